/** Ended tasks are garbage-collected as xapi does (db_gc.ml): beyond 200 tasks the oldest ended ones go first. */
import { RunningSimulator } from "../../../simulator";
import { call, login, sim } from "./helpers";

let s: RunningSimulator;
let url: string;
let session: string;

beforeAll(async () => {
  s = await sim();
  url = s.url;
  session = await login(url);
});
afterAll(() => s.close());

test("beyond 200 tasks the oldest ended ones are destroyed; pending ones are kept", async () => {
  const pending = await call<string>(url, "task.create", session, "long", "");
  const [tpl] = await call<string[]>(url, "VM.get_by_name_label", session, "Debian Bookworm 12");
  const ended: string[] = [];
  for (let i = 0; i < 230; i++) ended.push(await call<string>(url, "Async.VM.clone", session, tpl, `gc-${i}`));
  const all = await call<string[]>(url, "task.get_all", session);
  expect(all.length).toBeLessThanOrEqual(201);
  expect(all).toContain(pending);
  expect(all).toContain(ended[ended.length - 1]);
  expect(all).not.toContain(ended[0]);
});
