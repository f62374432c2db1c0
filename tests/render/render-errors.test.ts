import { expect } from "chai";
import { renderStack } from "../../render/render-stack";

describe("a render that the program fails", () => {
  it("rejects with the program's error and its stack trace through the program's files", async () => {
    const error = await renderStack({ stack: "dev", config: { vcpu: "3" } }).then(
      () => expect.fail("the stack rendered with vcpu 3"),
      (thrown: Error) => thrown,
    );
    expect(error.message).to.match(/vcpu/);
    expect(error.stack).to.match(/infra[/\\]\S+\.ts:\d+/);
  });
});
