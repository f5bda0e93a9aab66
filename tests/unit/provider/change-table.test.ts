import * as fs from "fs";
import * as path from "path";
import { CHANGE_TABLE, EXAMPLE_INPUTS, EXAMPLE_STATE } from "../../../provider/plan/change-table";
import { planVm } from "../../../provider/plan/vm";
import { withChangeTable } from "../../../scripts/gen-change-table";

describe("the change table is what the planner does", () => {
  test.each(CHANGE_TABLE.map((rule) => [`${rule.input} (${rule.when})`, rule] as const))("%s", (_name, rule) => {
    const plan = planVm({ ...EXAMPLE_STATE, ...rule.example.old }, { ...EXAMPLE_INPUTS, ...rule.example.news });
    expect(plan.blocked).toBeUndefined();
    expect(plan.changed.length).toBeGreaterThan(0);
    expect(plan.disruption).toBe(rule.disruption === "in place" ? "none" : rule.disruption);
  });

  test("README.md carries the table as generated", () => {
    const readme = fs.readFileSync(path.join(__dirname, "..", "..", "..", "README.md"), "utf8");
    expect(withChangeTable(readme)).toBe(readme);
  });
});
