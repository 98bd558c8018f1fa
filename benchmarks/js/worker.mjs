// One workload through the official JavaScript SDK (@azure/notification-hubs), in
// a fresh Node.js process: the same request, concurrency and measurement as
// benchmarks/_worker.py, printed as the same JSON line. Started by run_workers
// with NODE_EXTRA_CA_CERTS set to the sink's CA.
//
//   node benchmarks/js/worker.mjs '<workload JSON>'

import {
  createAppleNotification,
  NotificationHubsClient,
} from "@azure/notification-hubs";

const HUB_NAME = "myhub";
const TAGS = "sports";
// The payload benchmarks/_senders.py sends, byte for byte.
const BODY = JSON.stringify({
  aps: { alert: "Match starts in 10 minutes", badge: 1, sound: "default" },
  match: 1234,
});

async function drive(send, inFlight, sends, budgetSeconds) {
  let startedCount = 0;
  const started = performance.now();
  const deadline = started + budgetSeconds * 1000;

  async function sender() {
    while (startedCount < sends && performance.now() < deadline) {
      startedCount += 1;
      await send();
    }
  }

  await Promise.all(Array.from({ length: inFlight }, sender));
  return [startedCount, (performance.now() - started) / 1000];
}

function peakRssMb() {
  // resourceUsage().maxRSS is in kilobytes, like getrusage on Linux.
  return process.resourceUsage().maxRSS / 1024;
}

function cpuSeconds() {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1e6;
}

async function main() {
  const workload = JSON.parse(process.argv[2]);
  const client = new NotificationHubsClient(
    `Endpoint=https://127.0.0.1:${workload.port}/;` +
      "SharedAccessKeyName=x;SharedAccessKey=y",
    HUB_NAME,
  );
  const notification = createAppleNotification({ body: BODY });

  async function send() {
    // Like the Python clients: one notification, built once, to a tag.
    const response = await client.sendNotification(notification, {
      tagExpression: TAGS,
    });
    if (!response.trackingId) {
      throw new Error("the sink's answer was not a Notification Hubs send");
    }
  }

  const warmup = Math.max(workload.warmup_sends, workload.in_flight);
  await drive(send, workload.in_flight, warmup, workload.warmup_seconds);
  globalThis.gc?.();
  const rssBefore = peakRssMb();
  const cpuStarted = cpuSeconds();
  const [sends, seconds] = await drive(
    send,
    workload.in_flight,
    workload.sends,
    workload.budget_seconds,
  );
  const cpu = cpuSeconds() - cpuStarted;
  process.stdout.write(
    JSON.stringify({
      sends,
      seconds,
      cpu_seconds: cpu,
      peak_rss_mb: peakRssMb(),
      rss_before_run_mb: rssBefore,
    }) + "\n",
  );
}

main().catch((error) => {
  process.stderr.write(`${error?.stack ?? error}\n`);
  process.exit(1);
});
