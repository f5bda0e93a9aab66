import { Db } from "../../../simulator/models/db";
import { defaultRecord } from "../../../simulator/models/schema";
import { JsonText, recordText } from "../../../simulator/models/wire";
import { SimulatorCore } from "../../../simulator/sim";

function core(): SimulatorCore {
  return new SimulatorCore({ rootPassword: "pw", timeScale: 0, seed: 7, log: () => undefined });
}

function text(db: Db, ref: string): string {
  return recordText(db.objects.get(ref)!).segments.join("");
}

/** The chunks as a consumer takes them: each one before the generator comes round to its buffer again. */
function taken(t: JsonText, ...bufs: Buffer[]): Buffer[] {
  const out: Buffer[] = [];
  for (const piece of t.chunks(bufs)) out.push(Buffer.from(piece));
  return out;
}

function bytesOf(t: JsonText): Buffer {
  const buf = Buffer.alloc(t.bytes);
  t.writeTo(buf);
  return buf;
}

test("every seeded record's text is JSON.stringify of the record, and counts its UTF-8 bytes", () => {
  const c = core();
  let n = 0;
  for (const o of c.engine.db.objects.values()) {
    const t = recordText(o);
    expect(t.segments.join("")).toBe(JSON.stringify(o.rec));
    expect(t.bytes).toBe(Buffer.byteLength(JSON.stringify(o.rec)));
    n++;
  }
  expect(n).toBeGreaterThan(50);
  c.close();
});

test("the text follows JSON.stringify for odd values: escapes, non-ASCII, undefined, NaN, extra keys", () => {
  const db = new Db();
  const rec = {
    ...defaultRecord("VM"),
    uuid: "u-1",
    name_label: 'caf\u00e9 "quoted" \\ \u2603 \ud83d\ude00',
    name_description: "line\nbreak\u0001",
    other_config: { "k\u00e9y": "v\u00e4l", "": "" },
    VCPUs_params: { weight: "256" },
    memory_target: NaN,
    PV_args: undefined,
    not_in_schema: [1, "two", { three: 3 }],
  };
  db.tx(() => db.create("VM", "P", "OpaqueRef:odd", rec));
  const o = db.objects.get("OpaqueRef:odd")!;
  expect(text(db, "OpaqueRef:odd")).toBe(JSON.stringify(o.rec));
  expect(recordText(o).bytes).toBe(Buffer.byteLength(JSON.stringify(o.rec)));
  db.tx(() => db.create("VM", "P", "OpaqueRef:empty", {}));
  expect(text(db, "OpaqueRef:empty")).toBe("{}");
});

test("the text is kept until the record changes, through every kind of change; a rollback restores it", () => {
  const db = new Db();
  db.tx(() => {
    db.create("VM", "P", "OpaqueRef:vm", { ...defaultRecord("VM"), uuid: "u-vm" });
    db.create("VDI", "P", "OpaqueRef:vdi", { ...defaultRecord("VDI"), uuid: "u-vdi" });
  });
  const vm = () => db.objects.get("OpaqueRef:vm")!;
  const first = recordText(vm());
  expect(recordText(vm())).toBe(first);

  const changes: [string, () => void][] = [
    ["set", () => db.tx(() => db.set("OpaqueRef:vm", "name_label", "renamed"))],
    ["update", () => db.tx(() => db.update("OpaqueRef:vm", { VCPUs_max: 8, tags: ["a"] }))],
    [
      "a back-reference added",
      () =>
        db.tx(() =>
          db.create("VBD", "P", "OpaqueRef:vbd", { ...defaultRecord("VBD"), VM: "OpaqueRef:vm", VDI: "OpaqueRef:vdi" }),
        ),
    ],
    ["a back-reference removed", () => db.tx(() => db.destroy("OpaqueRef:vbd"))],
    ["in memory only", () => db.setVolatile("OpaqueRef:vm", "name_description", "touched")],
  ];
  for (const [what, change] of changes) {
    const before = recordText(vm());
    change();
    const after = recordText(vm());
    expect([what, after === before]).toEqual([what, false]);
    expect([what, after.segments.join("")]).toEqual([what, JSON.stringify(vm().rec)]);
  }

  const kept = recordText(vm());
  db.tx(() => db.setHidden("OpaqueRef:vm", "note", "simulator-only"));
  db.tx(() => db.bump("OpaqueRef:vm"));
  expect(recordText(vm())).toBe(kept);

  expect(() =>
    db.tx(() => {
      db.set("OpaqueRef:vm", "name_label", "doomed");
      expect(text(db, "OpaqueRef:vm")).toContain("doomed");
      throw new Error("undo");
    }),
  ).toThrow("undo");
  expect(text(db, "OpaqueRef:vm")).toBe(JSON.stringify(vm().rec));
  expect(text(db, "OpaqueRef:vm")).not.toContain("doomed");
});

test("records that differ only in what names them share the text of every other run of fields", () => {
  const db = new Db();
  db.tx(() => {
    for (const i of [1, 2])
      db.create("VM", "P", `OpaqueRef:vm${i}`, {
        ...defaultRecord("VM"),
        uuid: `u-${i}`,
        name_label: `vm ${i}`,
        metrics: `OpaqueRef:m${i}`,
        platform: { acpi: "1", viridian: "false" },
      });
  });
  const [a, b] = [1, 2].map((i) => recordText(db.objects.get(`OpaqueRef:vm${i}`)!).segments);
  expect(a!.length).toBe(b!.length);
  const own = a!.filter((s, i) => s !== b![i]);
  expect(own.length).toBe(3);
  expect(own.join("")).toMatch(/"uuid".*"name_label".*"metrics"/);
  const shared = a!.filter((s, i) => s === b![i]);
  expect(shared.join("").length).toBeGreaterThan(own.join("").length * 10);
});

test("a map of records: the same JSON as the plain answer, whole or in chunks, inside a reply's envelope", () => {
  const c = core();
  const e = c.engine;
  const pool = e.db.refs("pool")[0]!;
  const objs = e.db.objs("VM", pool);
  const plain = Object.fromEntries(objs.map((o) => [o.ref, { ...o.rec }]));
  const t = JsonText.records(objs);
  expect(bytesOf(t).toString()).toBe(JSON.stringify(plain));
  expect(t.toString()).toBe(JSON.stringify(plain));
  const reply = t.within('{"jsonrpc":"2.0","result":', ',"id":"x"}');
  expect(bytesOf(reply).toString()).toBe(JSON.stringify({ jsonrpc: "2.0", result: plain, id: "x" }));
  const pieces = taken(reply, Buffer.alloc(4096), Buffer.alloc(4096));
  expect(pieces.length).toBeGreaterThan(3);
  expect(pieces.every((p) => p.length <= 4096)).toBe(true);
  expect(Buffer.concat(pieces).toString()).toBe(bytesOf(reply).toString());
  // With two buffers a piece stays intact while the next one fills (a reply writes one while filling the next).
  const held: Buffer[] = [];
  let previous: Buffer | undefined;
  for (const piece of reply.chunks([Buffer.alloc(4096), Buffer.alloc(4096)])) {
    if (previous) held.push(Buffer.from(previous));
    previous = piece;
  }
  held.push(Buffer.from(previous!));
  expect(Buffer.concat(held).toString()).toBe(bytesOf(reply).toString());
  expect(JsonText.records([]).toString()).toBe("{}");
  c.close();
});

test("a segment longer than the chunk buffer, a key that needs escaping, multi-byte text", () => {
  const db = new Db();
  db.tx(() => {
    db.create("VM", "P", 'OpaqueRef:"odd\u00e9"', {
      ...defaultRecord("VM"),
      uuid: "u-1",
      name_label: "\u2603".repeat(50),
    });
    db.create("VM", "P", "OpaqueRef:b", { ...defaultRecord("VM"), uuid: "u-2" });
  });
  const objs = db.objs("VM", "P");
  const plain = JSON.stringify(Object.fromEntries(objs.map((o) => [o.ref, o.rec])));
  const t = JsonText.records(objs);
  expect(t.bytes).toBe(Buffer.byteLength(plain));
  expect(bytesOf(t).toString()).toBe(plain);
  const pieces = taken(t, Buffer.alloc(64));
  expect(Buffer.concat(pieces).toString()).toBe(plain);
});

test("a text made before a change is the snapshot of when it was made", () => {
  const db = new Db();
  db.tx(() => db.create("VM", "P", "OpaqueRef:vm", { ...defaultRecord("VM"), uuid: "u-vm", name_label: "before" }));
  const t = JsonText.record(db.objects.get("OpaqueRef:vm")!);
  db.tx(() => db.set("OpaqueRef:vm", "name_label", "after"));
  expect(JSON.parse(t.toString())).toMatchObject({ name_label: "before" });
  expect(JSON.parse(JsonText.record(db.objects.get("OpaqueRef:vm")!).toString())).toMatchObject({
    name_label: "after",
  });
});
