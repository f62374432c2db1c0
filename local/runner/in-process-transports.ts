/**
 * The transport local mode gives an SDK client of its own or of a simulated function to a local server in
 * this process (in-process-http.ts): no socket, no Signature Version 4 hashing. What the functions depend
 * on behaves as over HTTP: the server answers (throttling included) and the SDK retries as it would; the
 * request counts as in flight until its answer is in, so simulated time waits for it; and a call of an
 * invocation Lambda has stopped fails before it reaches the server, as a frozen function's sockets do.
 */
import type { ClientTransport } from "../../functions/entrypoints";
import { inProcessRequestHandler, unsignedSigner, type RequestListener } from "../in-process-http";
import { outsideInvocation, refuseIfInvocationEnded } from "./invocation-context";

/** A client transport that hands each request to `listener`, the local server's request listener. */
export function inProcessTransport(listener: RequestListener): ClientTransport {
  // The server's work is its own, not the calling invocation's: its timers outlive a stopped function.
  const inProcess = inProcessRequestHandler((request, response) =>
    outsideInvocation(() => listener(request, response)),
  );
  return {
    requestHandler: {
      ...inProcess,
      handle: async (request, options) => {
        refuseIfInvocationEnded();
        return inProcess.handle(request, options);
      },
    },
    signer: unsignedSigner,
  };
}
