// The official Node Fabric Gateway client (@hyperledger/fabric-gateway), driven from the
// Python interop test and scripts/bench_clients.py.
//
//   node client.mjs submit KEY VALUE   -> prints {"tx_id": ..., "result": ...}
//   node client.mjs evaluate KEY       -> prints the chaincode's JSON result of Get
//   node client.mjs bench N INFLIGHT   -> prints {"tps", "p50_ms", "p99_ms", "cpu_ms_per_tx"}
//
// Connection settings come from the environment, read once here:
//   EVNET_PEER_ENDPOINT (host:port), EVNET_TLS_CA (PEM path), EVNET_SERVER_NAME,
//   EVNET_MSP_ID, EVNET_CERT (PEM path), EVNET_KEY (PEM path),
//   EVNET_CHANNEL (default "evidence"), EVNET_CHAINCODE (default "evidence").
import * as grpc from '@grpc/grpc-js';
import { connect, signers } from '@hyperledger/fabric-gateway';
import { createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';

function required(name) {
  const value = process.env[name];
  if (!value) {
    throw new Error(`environment variable ${name} is not set`);
  }
  return value;
}

function settings() {
  return {
    endpoint: required('EVNET_PEER_ENDPOINT'),
    tlsCa: readFileSync(required('EVNET_TLS_CA')),
    serverName: required('EVNET_SERVER_NAME'),
    mspId: required('EVNET_MSP_ID'),
    cert: readFileSync(required('EVNET_CERT')),
    key: readFileSync(required('EVNET_KEY')),
    channel: process.env.EVNET_CHANNEL || 'evidence',
    chaincode: process.env.EVNET_CHAINCODE || 'evidence',
  };
}

function open(s) {
  const client = new grpc.Client(s.endpoint, grpc.credentials.createSsl(s.tlsCa), {
    'grpc.ssl_target_name_override': s.serverName,
    'grpc.max_concurrent_streams': 1000,
  });
  const gateway = connect({
    client,
    identity: { mspId: s.mspId, credentials: s.cert },
    signer: signers.newPrivateKeySigner(createPrivateKey(s.key)),
    evaluateOptions: () => ({ deadline: Date.now() + 30_000 }),
    endorseOptions: () => ({ deadline: Date.now() + 30_000 }),
    submitOptions: () => ({ deadline: Date.now() + 30_000 }),
    commitStatusOptions: () => ({ deadline: Date.now() + 60_000 }),
  });
  const contract = gateway.getNetwork(s.channel).getContract(s.chaincode);
  return { client, gateway, contract };
}

const decoder = new TextDecoder();

async function submit(contract, key, value) {
  const proposal = contract.newProposal('Put', { arguments: [key, value] });
  const transaction = await proposal.endorse();
  const commit = await transaction.submit();
  const status = await commit.getStatus();
  if (!status.successful) {
    throw new Error(`transaction ${status.transactionId} committed with code ${status.code}`);
  }
  return { tx_id: transaction.getTransactionId(), result: decoder.decode(transaction.getResult()) };
}

function percentile(sorted, q) {
  if (sorted.length === 0) return NaN;
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[index];
}

async function bench(contract, total, inFlight) {
  const latencies = [];
  let next = 0;
  const prefix = `node-bench-${inFlight}-${process.pid}`;
  async function worker() {
    while (next < total) {
      const i = next++;
      const started = performance.now();
      await submit(contract, `${prefix}-${i}`, 'x'.repeat(64));
      latencies.push(performance.now() - started);
    }
  }
  await submit(contract, `${prefix}-warmup`, 'x'); // connection set-up is not measured
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  await Promise.all(Array.from({ length: Math.min(inFlight, total) }, worker));
  const elapsedMs = performance.now() - started;
  const cpu = process.cpuUsage(cpuBefore);
  latencies.sort((a, b) => a - b);
  return {
    tps: total / (elapsedMs / 1000),
    p50_ms: percentile(latencies, 0.5),
    p99_ms: percentile(latencies, 0.99),
    cpu_ms_per_tx: (cpu.user + cpu.system) / 1000 / total,
  };
}

async function main(argv) {
  const [command, ...args] = argv;
  const s = settings();
  const { client, gateway, contract } = open(s);
  try {
    if (command === 'submit' && args.length === 2) {
      console.log(JSON.stringify(await submit(contract, args[0], args[1])));
    } else if (command === 'evaluate' && args.length === 1) {
      const result = await contract.evaluateTransaction('Get', args[0]);
      console.log(JSON.stringify(JSON.parse(decoder.decode(result))));
    } else if (command === 'bench' && args.length === 2) {
      console.log(JSON.stringify(await bench(contract, Number(args[0]), Number(args[1]))));
    } else {
      throw new Error('usage: client.mjs submit KEY VALUE | evaluate KEY | bench N INFLIGHT');
    }
  } finally {
    gateway.close();
    client.close();
  }
}

main(process.argv.slice(2)).catch((err) => {
  console.error(err?.details ? `${err.message}: ${JSON.stringify(err.details)}` : String(err));
  process.exitCode = 1;
});
