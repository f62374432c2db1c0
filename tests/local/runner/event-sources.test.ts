import { expect } from "chai";
import { failedRecords } from "../../../local/runner/event-sources";

describe("Lambda's queue event source in local mode", () => {
  it("reads a ReportBatchItemFailures response as Lambda does: named records fail, a bad response fails all", () => {
    const records = ["m-1", "m-2", "m-3"].map((messageId) => ({ messageId }) as never);
    expect([
      ...(failedRecords({ batchItemFailures: [{ itemIdentifier: "m-2" }] }, records) as Set<string>),
    ]).to.deep.equal(["m-2"]);
    expect(failedRecords(undefined, records)).to.deep.equal(new Set());
    expect(failedRecords({ batchItemFailures: [] }, records)).to.deep.equal(new Set());
    expect(failedRecords({ batchItemFailures: [{ itemIdentifier: "m-9" }] }, records)).to.equal("all");
    expect(failedRecords({ batchItemFailures: [{ itemIdentifier: "" }] }, records)).to.equal("all");
    expect(failedRecords({ batchItemFailures: "m-1" }, records)).to.equal("all");
  });
});
