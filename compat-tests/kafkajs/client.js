// kafkajs driven by the compat-tests: `node client.js <command>` reads one JSON request on stdin
// and prints one JSON answer on stdout. Keys, values and header values travel as base64 (null
// stays null), so any bytes survive the trip. A failure exits non-zero with the error on stderr.
//
//   produce  {bootstrap, topic, compression, idempotent, records: [{key, value, headers, partition}]}
//            -> [{partition, offset}] per record, in order
//   consume  {bootstrap, topic, groupId, count, timeoutMs}
//            -> [{partition, offset, key, value, headers}]: a group member from the earliest
//               offset, committing what it read, read_committed as kafkajs defaults to
//   transaction {bootstrap, topic, transactionalId, batches: [{commit, records}]}
//            -> {} after each batch is sent in a transaction of its own, committed or aborted
//   stream   {bootstrap, topic, count, intervalMs}
//            -> ["0", "1", ...]: the values acknowledged, one idempotent acks=all send of one
//               record every intervalMs (long enough for a broker to die meanwhile)
//   registry {registry, subject, schema, payload, encoded}
//            -> {id, encoded, decoded}: @kafkajs/confluent-schema-registry registers the Avro schema
//               under the subject at the registry's URL, encodes payload with it (base64 in the
//               answer) and decodes the base64 `encoded` bytes another client wrote
//
// Every request may also carry `ssl` ({ca, cert, key} as PEM text, any of them; or true) and
// `sasl` ({mechanism: 'plain' | 'scram-sha-256' | 'scram-sha-512', username, password}, or
// {mechanism: 'oauthbearer', principal}: an oauthBearerProvider handing out unsecured JWTs).

'use strict'

const { Kafka, logLevel, CompressionTypes, CompressionCodecs, Partitioners } = require('kafkajs')
const SnappyCodec = require('kafkajs-snappy')

CompressionCodecs[CompressionTypes.Snappy] = SnappyCodec

const COMPRESSION = { none: CompressionTypes.None, gzip: CompressionTypes.GZIP, snappy: CompressionTypes.Snappy }

const decode = (text) => (text === null || text === undefined ? null : Buffer.from(text, 'base64'))
const encode = (buf) => (buf === null || buf === undefined ? null : Buffer.from(buf).toString('base64'))

function client (request) {
  return new Kafka({ clientId: 'kbroker-compat', brokers: [request.bootstrap], logLevel: logLevel.ERROR,
    connectionTimeout: 10000, requestTimeout: 10000, retry: { retries: request.retries ?? 3 },
    ssl: request.ssl, sasl: sasl(request.sasl) })
}

// kafkajs's OAUTHBEARER takes a provider of tokens; for development, an unsigned JWT (alg none)
// naming the principal, the token Kafka's unsecured validator accepts.
function sasl (spec) {
  if (!spec || spec.mechanism !== 'oauthbearer') return spec
  const part = (doc) => Buffer.from(JSON.stringify(doc)).toString('base64url')
  const oauthBearerProvider = async () => {
    const now = Math.floor(Date.now() / 1000)
    return { value: `${part({ alg: 'none' })}.${part({ sub: spec.principal, iat: now, exp: now + 3600 })}.` }
  }
  return { mechanism: 'oauthbearer', oauthBearerProvider }
}

function message (record) {
  const headers = {}
  for (const [name, value] of record.headers || []) headers[name] = decode(value)
  const out = { key: decode(record.key), value: decode(record.value), headers }
  if (record.partition !== null && record.partition !== undefined) out.partition = record.partition
  return out
}

async function produce (request) {
  // kafkajs answers one base offset per partition; the partition of each record is recorded as the
  // default partitioner (Java's murmur2 for keys) picks it, and records keep their order within one.
  const chosen = []
  const createPartitioner = () => {
    const pick = Partitioners.DefaultPartitioner()
    return (args) => { const p = pick(args); chosen.push(p); return p }
  }
  const producer = client(request).producer({ createPartitioner, idempotent: request.idempotent,
    maxInFlightRequests: request.idempotent ? 1 : undefined })
  await producer.connect()
  try {
    const messages = request.records.map(message)
    const answers = await producer.send({ topic: request.topic, acks: -1, compression: COMPRESSION[request.compression],
      messages })
    const base = {}
    for (const a of answers) base[a.partition] = Number(a.baseOffset)
    const next = {}
    return messages.map((m, i) => {
      const partition = m.partition !== undefined ? m.partition : chosen.shift()
      const offset = base[partition] + (next[partition] || 0)
      next[partition] = (next[partition] || 0) + 1
      return { partition, offset }
    })
  } finally {
    await producer.disconnect()
  }
}

async function consume (request) {
  const consumer = client(request).consumer({ groupId: request.groupId, maxWaitTimeInMs: 100,
    heartbeatInterval: 500 })
  await consumer.connect()
  const got = []
  try {
    await consumer.subscribe({ topic: request.topic, fromBeginning: true })
    await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`consumed ${got.length} of ${request.count} records in time`)),
        request.timeoutMs)
      consumer.run({
        autoCommit: false,
        eachMessage: async ({ topic, partition, message: m }) => {
          got.push({ partition, offset: Number(m.offset), key: encode(m.key), value: encode(m.value),
            headers: Object.entries(m.headers || {}).map(([k, v]) => [k, encode(v)]) })
          await consumer.commitOffsets([{ topic, partition, offset: String(Number(m.offset) + 1) }])
          if (got.length >= request.count) { clearTimeout(timer); resolve() }
        }
      }).catch(reject)
    })
  } finally {
    await consumer.disconnect()
  }
  return got
}

async function transaction (request) {
  const producer = client(request).producer({ transactionalId: request.transactionalId, idempotent: true,
    maxInFlightRequests: 1 })
  await producer.connect()
  try {
    for (const batch of request.batches) {
      const txn = await producer.transaction()
      await txn.send({ topic: request.topic, acks: -1, messages: batch.records.map(message) })
      await (batch.commit ? txn.commit() : txn.abort())
    }
  } finally {
    await producer.disconnect()
  }
  return {}
}

async function stream (request) {
  const producer = client(request).producer({ idempotent: true, maxInFlightRequests: 1,
    retry: { retries: 10, initialRetryTime: 200 } })
  await producer.connect()
  const acked = []
  try {
    for (let i = 0; i < request.count; i++) {
      await producer.send({ topic: request.topic, acks: -1, messages: [{ value: `${i}` }] })
      acked.push(`${i}`)
      await new Promise((resolve) => setTimeout(resolve, request.intervalMs))
    }
  } finally {
    await producer.disconnect()
  }
  return acked
}

async function registry (request) {
  const { SchemaRegistry, SchemaType } = require('@kafkajs/confluent-schema-registry')
  const schemas = new SchemaRegistry({ host: request.registry })
  const { id } = await schemas.register({ type: SchemaType.AVRO, schema: request.schema }, { subject: request.subject })
  const encoded = await schemas.encode(id, request.payload)
  const decoded = await schemas.decode(decode(request.encoded))
  return { id, encoded: encode(encoded), decoded }
}

const COMMANDS = { produce, consume, transaction, stream, registry }

async function main () {
  const command = COMMANDS[process.argv[2]]
  if (!command) throw new Error(`unknown command ${process.argv[2]}; expected one of ${Object.keys(COMMANDS)}`)
  const chunks = []
  for await (const chunk of process.stdin) chunks.push(chunk)
  const answer = await command(JSON.parse(Buffer.concat(chunks).toString('utf8')))
  process.stdout.write(JSON.stringify(answer))
}

main().catch((error) => {
  process.stderr.write(`${error.stack || error}\n`)
  process.exit(1)
})
