/**
 * What API Gateway holds for a REST API here: its API key and the key's usage under the usage plan. The
 * throttle is a token bucket per key (API Gateway Developer Guide, "Throttle requests to your REST APIs":
 * the burst is the bucket's size, the rate its refill per second); the quota counts requests per period
 * from the period's start (UTC), on the simulated clock.
 */
import type { SimClock } from "../time/clock";
import { randomString } from "../time/random";
import type { UsagePlanSettings } from "./requests";

/** An API key as API Gateway generates one: 40 letters and digits. */
export function generateApiKey(random: () => number): string {
  return randomString(random, 40, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789");
}

/** Why a request was refused by the usage plan, or undefined when it may go on. */
export type UsageRefusal = "throttled" | "quota" | undefined;

/** One API key and its usage plan. */
export class ApiKeyUsage {
  private tokens: number;
  private refilledAt: number;
  private periodStart = -1;
  private used = 0;
  private readonly counts = { accepted: 0, throttled: 0, quota: 0 };

  constructor(
    readonly id: string,
    readonly value: string,
    private readonly plan: UsagePlanSettings,
    private readonly clock: SimClock,
  ) {
    this.tokens = plan.burstLimit ?? Infinity;
    this.refilledAt = clock.now();
  }

  /** Takes one request from the key's allowance; says why not when it has none left. */
  take(): UsageRefusal {
    const now = this.clock.now();
    const { rateLimit, burstLimit, quota } = this.plan;
    if (rateLimit !== undefined && burstLimit !== undefined) {
      this.tokens = Math.min(burstLimit, this.tokens + ((now - this.refilledAt) / 1000) * rateLimit);
      this.refilledAt = now;
      if (this.tokens < 1) {
        this.counts.throttled += 1;
        return "throttled";
      }
    }
    if (quota) {
      const start = periodStart(now, quota.period);
      if (start !== this.periodStart) {
        this.periodStart = start;
        this.used = 0;
      }
      if (this.used >= quota.limit) {
        this.counts.quota += 1;
        return "quota";
      }
      this.used += 1;
    }
    if (rateLimit !== undefined && burstLimit !== undefined) this.tokens -= 1;
    this.counts.accepted += 1;
    return undefined;
  }

  /** Requests let through, throttled and over the quota. */
  usage(): { accepted: number; throttled: number; quota: number } {
    return { ...this.counts };
  }
}

/** The start of the quota period holding `ms` (UTC): the day, the week (from Monday) or the month. */
function periodStart(ms: number, period: "DAY" | "WEEK" | "MONTH"): number {
  const day = Math.floor(ms / 86_400_000) * 86_400_000;
  if (period === "DAY") return day;
  const date = new Date(day);
  if (period === "WEEK") return day - ((date.getUTCDay() + 6) % 7) * 86_400_000;
  return Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), 1);
}
