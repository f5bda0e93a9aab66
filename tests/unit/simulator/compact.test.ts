import { EMPTY_MAP, EMPTY_SET, compactValue } from "../../../simulator/models/compact";
import { Db } from "../../../simulator/models/db";
import { recordCopy } from "../../../simulator/models/methods/implicit";
import { defaultRecord } from "../../../simulator/models/schema";
import { SimulatorCore } from "../../../simulator/sim";

function twoVms(): Db {
  const db = new Db();
  db.tx(() => {
    for (const i of [1, 2])
      db.create("VM", "P", `OpaqueRef:vm${i}`, {
        ...defaultRecord("VM"),
        uuid: `u-${i}`,
        platform: { acpi: "1", viridian: "false" },
        tags: ["web", "prod"],
        other_config: {},
        VBDs: [],
        name_description: ["a", "shared", "text"].join(" "),
      });
  });
  return db;
}

test("empty maps and sets are one frozen instance; equal maps and sets of plain values are one instance", () => {
  const db = twoVms();
  const [a, b] = [db.get("VM", "OpaqueRef:vm1"), db.get("VM", "OpaqueRef:vm2")];
  expect(a.other_config).toBe(EMPTY_MAP);
  expect(a.VBDs).toBe(EMPTY_SET);
  expect(a.current_operations).toBe(EMPTY_MAP);
  expect(a.platform).toBe(b.platform);
  expect(a.tags).toBe(b.tags);
  expect(a.platform).toEqual({ acpi: "1", viridian: "false" });
  expect(Object.isFrozen(a.platform) && Object.isFrozen(a.tags)).toBe(true);
  expect(a.name_description).toBe("a shared text");
});

test("sets of refs are frozen but never shared; values JSON cannot tell apart are not shared", () => {
  const refs = compactValue("set:ref:VBD", ["OpaqueRef:1"]);
  expect(Object.isFrozen(refs)).toBe(true);
  expect(compactValue("set:ref:VBD", ["OpaqueRef:1"])).not.toBe(refs);
  expect(compactValue("map", { a: 1 })).toBe(compactValue("map", { a: 1 }));
  expect(compactValue("map", { a: 1 })).not.toBe(compactValue("map", { a: "1" }));
  const nan = compactValue(undefined, { x: NaN }) as Record<string, unknown>;
  expect(nan).not.toBe(compactValue(undefined, { x: null }));
  expect(Number.isNaN(nan.x)).toBe(true);
  expect(compactValue(undefined, { x: undefined })).not.toBe(compactValue(undefined, {}));
  expect(compactValue("map", { b: "2", a: "1" })).not.toBe(compactValue("map", { a: "1", b: "2" }));
});

test("nothing outside the store can write into its values, through a record or a copy of it", () => {
  const c = new SimulatorCore({ rootPassword: "pw", timeScale: 0, seed: 5, log: () => undefined });
  const db = c.engine.db;
  const pool = db.refs("pool")[0]!;
  const template = db.all("VM", pool).find(([, r]) => r.name_label === "Debian Bookworm 12")![0];
  const copy = recordCopy(c.engine, "VM", template, pool);
  expect(() => {
    (copy.platform as Record<string, string>).acpi = "0";
  }).toThrow(TypeError);
  expect(() => (copy.tags as string[]).push("x")).toThrow(TypeError);
  expect(() => {
    (db.get("VM", template).other_config as Record<string, string>).x = "y";
  }).toThrow(TypeError);
  copy.name_label = "a copy is the caller's own";
  expect(db.get("VM", template).name_label).toBe("Debian Bookworm 12");
  expect((db.get("VM", template).platform as Record<string, string>).acpi).toBe("1");
  c.close();
});

test("objects without simulator-only state share one empty map; setHidden gives the object its own", () => {
  const db = twoVms();
  const [a, b] = [db.objects.get("OpaqueRef:vm1")!, db.objects.get("OpaqueRef:vm2")!];
  expect(a.hidden).toBe(b.hidden);
  db.tx(() => db.setHidden("OpaqueRef:vm1", "pvDrivers", true));
  expect(a.hidden).toEqual({ pvDrivers: true });
  expect(b.hidden).toEqual({});
  expect(() =>
    db.tx(() => {
      db.setHidden("OpaqueRef:vm2", "agent", true);
      throw new Error("undo");
    }),
  ).toThrow("undo");
  expect(db.objects.get("OpaqueRef:vm2")!.hidden).toEqual({});
});

test("a set grown many times in one transaction is frozen once it commits", () => {
  const db = new Db();
  db.tx(() => {
    db.create("SR", "P", "OpaqueRef:sr", { ...defaultRecord("SR"), uuid: "u-sr" });
    for (let i = 0; i < 3; i++)
      db.create("VDI", "P", `OpaqueRef:vdi${i}`, { ...defaultRecord("VDI"), uuid: `u-${i}`, SR: "OpaqueRef:sr" });
  });
  const vdis = db.get("SR", "OpaqueRef:sr").VDIs as string[];
  expect(vdis).toEqual(["OpaqueRef:vdi0", "OpaqueRef:vdi1", "OpaqueRef:vdi2"]);
  expect(Object.isFrozen(vdis)).toBe(true);
});

test("the seeded datacenter holds no empty map or set of its own", () => {
  const c = new SimulatorCore({ rootPassword: "pw", timeScale: 0, seed: 3, log: () => undefined });
  for (const o of c.engine.db.objects.values())
    for (const [k, v] of Object.entries(o.rec)) {
      if (!v || typeof v !== "object") continue;
      expect([o.cls, k, Object.isFrozen(v)]).toEqual([o.cls, k, true]);
      if (Object.keys(v).length === 0) expect([o.cls, k, v === EMPTY_MAP || v === EMPTY_SET]).toEqual([o.cls, k, true]);
    }
  c.close();
});
