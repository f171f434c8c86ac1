/**
 * NATS transport throughput: the bus over JetStream (crypto-free codec) against raw nats.js publishing the
 * same 1 KB payloads, in the same batches, to a work-queue stream of the same shape and consuming them with
 * explicit acks through a durable pull consumer.
 */
import { AckPolicy, DiscardPolicy, jetstream, jetstreamManager, RetentionPolicy, StorageType } from "@nats-io/jetstream";
import { connect, nanos } from "@nats-io/transport-node";
import { NatsTransport } from "../../src/bus/nats-transport.js";
import { resolveConfig } from "../../src/core/config/index.js";
import { MessageId } from "../../src/core/ids.js";
import { silentLogger } from "../../src/core/logger.js";
import { round, type Metric } from "../lib.js";
import { makeBus, PAYLOAD, pump } from "./fixtures.js";

const URL = process.env.SYMBIONT_TEST_NATS_URL ?? "nats://127.0.0.1:4222";
const N = 20_000;
const BATCH = 500;

async function rawRate(tag: string): Promise<number> {
  const nc = await connect({ servers: URL });
  const jsm = await jetstreamManager(nc);
  const js = jetstream(nc);
  const stream = `BENCH_RAW_${tag}`;
  const subject = `bench.${tag}.agent.b`;
  await jsm.streams.add({
    name: stream,
    subjects: [`bench.${tag}.agent.*`],
    retention: RetentionPolicy.Workqueue,
    storage: StorageType.File,
    max_msgs_per_subject: 1_000_000,
    discard: DiscardPolicy.New,
    discard_new_per_subject: true,
    duplicate_window: nanos(120_000),
  });
  try {
    await jsm.consumers.add(stream, { durable_name: "b", filter_subject: subject, ack_policy: AckPolicy.Explicit, max_ack_pending: 10_000 });
    const messages = await (await js.consumers.get(stream, "b")).consume({ max_messages: 256 });
    let received = 0;
    const consumed = (async () => {
      for await (const m of messages) {
        m.ack();
        if (++received >= N) break;
      }
    })();
    const start = performance.now();
    for (let sent = 0; sent < N; sent += BATCH) {
      const pubs: Promise<unknown>[] = [];
      for (let i = 0; i < BATCH; i++) pubs.push(js.publish(subject, PAYLOAD, { msgID: MessageId.new() }));
      await Promise.all(pubs);
      while (received < sent + BATCH) await new Promise((r) => setImmediate(r));
    }
    await consumed;
    const ms = performance.now() - start;
    await messages.close();
    return N / (ms / 1000);
  } finally {
    await jsm.streams.delete(stream).catch(() => false);
    await nc.drain();
  }
}

async function busRate(tag: string, plain: boolean, n: number): Promise<number> {
  const namespace = `bench_${tag}_${plain ? "plain" : "secure"}`;
  const config = resolveConfig({ communication: { transport: "nats", nats_url: URL, namespace, max_queue_size: 1_000_000 } }).communication;
  const bus = makeBus(await NatsTransport.connect(config, silentLogger()), { max_queue_size: 1_000_000 }, plain);
  try {
    const ms = await pump(bus, n, BATCH);
    return n / (ms / 1000);
  } finally {
    await bus.shutdown();
    const nc = await connect({ servers: URL });
    const jsm = await jetstreamManager(nc);
    for (const s of ["", "_DIR", "_STATUS"]) await jsm.streams.delete(`SYMBIONT_${namespace}${s}`).catch(() => false);
    await nc.close();
  }
}

export async function natsMetrics(): Promise<Metric[]> {
  try {
    const nc = await connect({ servers: URL, timeout: 2_000 });
    await nc.close();
  } catch (err) {
    console.warn(`[skip] NATS metrics: no server at ${URL} (${err instanceof Error ? err.message : String(err)})`);
    return [];
  }
  const tag = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
  const raw = await rawRate(tag);
  const bus = await busRate(tag, true, N);
  const secure = await busRate(tag, false, 2_000);
  return [
    { name: "nats_bus_throughput_vs_raw_natsjs", value: Math.round(bus), unit: "msg/s", baseline: Math.round(raw), ratio: round(bus / raw, 3), target: ">= 0.5" },
    { name: "nats_bus_secure_throughput", value: Math.round(secure), unit: "msg/s", baseline: Math.round(raw), ratio: round(secure / raw, 3) },
  ];
}
