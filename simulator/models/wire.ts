import { NULL_REF } from "../ids";
import { FieldRule, Recent, fieldRule } from "./compact";
import { Obj, RecordText } from "./db";

/**
 * Records as JSON text, for the replies that carry many of them (VM.get_all_records at 10 000 VMs is about
 * 27 MiB). A record's text is built on its first read and kept on its object until the record changes (the
 * store drops it then), so a reply concatenates texts instead of copying every record and serializing the copies.
 *
 * The text is kept in segments. Fields that name objects (FieldRule.names), unless NULL or empty, differ from
 * record to record and are the record's own; each run of fields between them is kept once per distinct text,
 * so a pool of clones of a few templates holds a few copies of those runs in all. Which fields count as the
 * record's own changes only how much is shared, never the text.
 */

/**
 * One copy of each distinct run of shared fields (a few per template), bounded like the store's tables; a run
 * longer than MAX_SHARED_RUN (a large map, say) is kept as the record's own.
 */
const runs = new Recent<string>(4096);
const MAX_SHARED_RUN = 4096;

/** `"name":` for each field name seen. */
const KEYS = new Map<string, string>();

function keyText(field: string): string {
  let k = KEYS.get(field);
  if (k === undefined) KEYS.set(field, (k = `${JSON.stringify(field)}:`));
  return k;
}

/** Whether the field's value is particular to this record (see above); a field the schema lacks counts too. */
function own(rule: FieldRule, v: unknown): boolean {
  if (rule.type === undefined) return true;
  return rule.names && v !== NULL_REF && !(Array.isArray(v) && v.length === 0);
}

/** The segments of JSON.stringify(rec): the same keys in the same order, the same skipped values. */
function build(o: Obj): RecordText {
  const segments: string[] = [];
  let bytes = 0;
  let run: string[] = [];
  let runOwn = false;
  const flush = () => {
    if (run.length === 0) return;
    const text = run.join("");
    segments.push(runOwn || text.length > MAX_SHARED_RUN ? text : (runs.get(text) ?? runs.add(text, text)));
    bytes += Buffer.byteLength(text);
    run = [];
  };
  for (const k of Object.keys(o.rec)) {
    const v = o.rec[k];
    const json = JSON.stringify(v) as string | undefined;
    if (json === undefined) continue;
    const mine = own(fieldRule(o.cls, k), v);
    if (mine !== runOwn) flush();
    runOwn = mine;
    run.push(segments.length === 0 && run.length === 0 ? "{" : ",", keyText(k), json);
  }
  run.push(segments.length === 0 && run.length === 0 ? "{}" : "}");
  flush();
  return { segments, bytes };
}

/** The record's JSON text (built now if the store holds none for it). */
export function recordText(o: Obj): RecordText {
  return (o.text ??= build(o));
}

/** A ref that JSON writes as it is, between quotes (generated refs always are). */
const PLAIN = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;

function keyBytes(ref: string): number {
  return PLAIN.test(ref) ? ref.length + 3 : Buffer.byteLength(JSON.stringify(ref)) + 1;
}

/**
 * A JSON value already serialized, written into a reply as it is: one record, or a map ref -> record. It holds
 * the records' texts as they were when it was made, so that a reply streamed out while records change is still
 * one consistent snapshot.
 */
export class JsonText {
  private constructor(
    private readonly texts: readonly RecordText[],
    /** the map's objects, for their refs (which never change); undefined for one record */
    private readonly objs: readonly Obj[] | undefined,
    /** UTF-8 length */
    readonly bytes: number,
    private readonly head = "",
    private readonly tail = "",
  ) {}

  /** One record (get_record). */
  static record(o: Obj): JsonText {
    const t = recordText(o);
    return new JsonText([t], undefined, t.bytes);
  }

  /** A map ref -> record (get_all_records), in the order given. */
  static records(objs: readonly Obj[]): JsonText {
    const texts = objs.map(recordText);
    let bytes = 2 + Math.max(0, objs.length - 1);
    for (let i = 0; i < objs.length; i++) bytes += keyBytes(objs[i]!.ref) + texts[i]!.bytes;
    return new JsonText(texts, objs, bytes);
  }

  /** This text between `head` and `tail` (a reply's envelope around its result). */
  within(head: string, tail: string): JsonText {
    const bytes = Buffer.byteLength(head) + this.bytes + Buffer.byteLength(tail);
    return new JsonText(this.texts, this.objs, bytes, head + this.head, this.tail + tail);
  }

  /** The text, piece by piece (no piece is built for the purpose but a key that needs escaping). */
  private *pieces(): Generator<string> {
    yield this.head;
    const { texts, objs } = this;
    if (objs) yield "{";
    for (let i = 0; i < texts.length; i++) {
      if (objs) {
        const ref = objs[i]!.ref;
        if (i > 0) yield ",";
        if (PLAIN.test(ref)) {
          yield '"';
          yield ref;
          yield '":';
        } else yield `${JSON.stringify(ref)}:`;
      }
      yield* texts[i]!.segments;
    }
    if (objs) yield "}";
    yield this.tail;
  }

  /** Writes the whole text into `buf` (which has room for `bytes`). */
  writeTo(buf: Buffer): void {
    let at = 0;
    for (const s of this.pieces()) at += buf.write(s, at);
    if (at !== this.bytes) throw new Error(`JSON text of ${at} bytes where ${this.bytes} were counted`);
  }

  /**
   * The text in pieces, each written into one of `bufs` in turn and at most that long: a buffer is filled again
   * only when its turn comes round, so a consumer may have all but one piece out at once (with two buffers, one
   * written out while the next fills). A segment is never split: one longer than a buffer comes on its own.
   */
  *chunks(bufs: readonly Buffer[]): Generator<Buffer> {
    let turn = 0;
    let buf = bufs[0]!;
    let at = 0;
    const full = () => {
      const piece = buf.subarray(0, at);
      turn = (turn + 1) % bufs.length;
      buf = bufs[turn]!;
      at = 0;
      return piece;
    };
    for (const s of this.pieces()) {
      // At most 3 UTF-8 bytes per UTF-16 unit: a bound that needs no count of the bytes.
      const most = s.length * 3;
      if (at + most > buf.length && at > 0) yield full();
      if (most > buf.length && Buffer.byteLength(s) > buf.length) yield Buffer.from(s);
      else at += buf.write(s, at);
    }
    if (at > 0) yield full();
  }

  toString(): string {
    return [...this.pieces()].join("");
  }
}
