// A Node.js support bot that emits one AgentSight conversation as plain OpenTelemetry spans,
// following docs/span-contract.md, and exports them over OTLP/HTTP (to a Collector, usually).
//
//   OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318 CONVERSATION_ID=chat-123 node producer.js
//
// Prints one JSON line: the conversation id and its trace id.
"use strict";

const { createHash, randomUUID } = require("node:crypto");
const { trace, context } = require("@opentelemetry/api");
const {
  BasicTracerProvider,
  BatchSpanProcessor,
  RandomIdGenerator,
} = require("@opentelemetry/sdk-trace-base");
const { OTLPTraceExporter } = require("@opentelemetry/exporter-trace-otlp-http");
const { resourceFromAttributes } = require("@opentelemetry/resources");
const { ATTR_SERVICE_NAME } = require("@opentelemetry/semantic-conventions");

// The conversation's trace id: SHA-256("agentsight.conversation/" + id), first 16 bytes.
function conversationTraceId(conversationId) {
  const hex = createHash("sha256")
    .update("agentsight.conversation/" + conversationId, "utf8")
    .digest("hex")
    .slice(0, 32);
  return /^0+$/.test(hex) ? "0".repeat(31) + "1" : hex;
}

// Random ids, except for the span that opens an interaction: it gets the conversation's trace
// id. JavaScript runs startSpan synchronously, so "the next trace id" cannot leak elsewhere.
class ConversationIdGenerator {
  constructor() {
    this.random = new RandomIdGenerator();
    this.next = null;
  }
  generateTraceId() {
    const id = this.next;
    this.next = null;
    return id || this.random.generateTraceId();
  }
  generateSpanId() {
    return this.random.generateSpanId();
  }
  startInteraction(tracer, conversationId, attributes, startTime) {
    this.next = conversationTraceId(conversationId);
    return tracer.startSpan("turn", { root: true, attributes, startTime });
  }
}

function identity(conversationId) {
  return {
    "agentsight.conversation.id": conversationId,
    "gen_ai.conversation.id": conversationId,
    "session.id": conversationId,
  };
}

function at(start, ms) {
  return new Date(start + ms);
}

async function main() {
  const base = (process.env.OTEL_EXPORTER_OTLP_ENDPOINT || "http://localhost:4318").replace(
    /\/$/,
    "",
  );
  const conversationId = process.env.CONVERSATION_ID || `node-${randomUUID()}`;
  const ids = new ConversationIdGenerator();
  const processor = new BatchSpanProcessor(new OTLPTraceExporter({ url: `${base}/v1/traces` }));
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ [ATTR_SERVICE_NAME]: "node-support-bot" }),
    idGenerator: ids,
    spanProcessors: [processor],
  });
  const tracer = provider.getTracer("agentsight-node-example", "0.1.0");
  const start = Date.now();

  // The interaction: a root span in the conversation's trace, with the conversation's fields.
  const turn = ids.startInteraction(
    tracer,
    conversationId,
    {
      ...identity(conversationId),
      "agentsight.span.kind": "turn",
      "agentsight.entity.name": "turn",
      "agentsight.conversation.customer_id": "customer-7",
      "agentsight.conversation.name": "Refund request",
      "agentsight.conversation.source": "node",
      "agentsight.conversation.metadata": JSON.stringify({ plan: "pro" }),
    },
    at(start, 0),
  );
  const turnId = turn.spanContext().spanId;
  turn.setAttribute("agentsight.turn.id", turnId);
  turn.addEvent(
    "agentsight.message",
    {
      "agentsight.message.sender": "end_user",
      "agentsight.message.content": "I was charged twice for order B-2002.",
    },
    at(start, 10),
  );

  // An action: a child span with its real start and end.
  const inTurn = trace.setSpan(context.active(), turn);
  const action = tracer.startSpan(
    "lookup_payment",
    {
      attributes: {
        ...identity(conversationId),
        "agentsight.span.kind": "tool",
        "agentsight.entity.name": "lookup_payment",
        "agentsight.tool.name": "lookup_payment",
        "agentsight.tool.arguments": JSON.stringify({ order_id: "B-2002" }),
        "agentsight.tool.response": "2 charges of 19.99 EUR",
        "agentsight.turn.id": turnId,
      },
      startTime: at(start, 20),
    },
    inTurn,
  );
  action.end(at(start, 140));

  // One model call's usage (integer counts), the answer, and a click.
  turn.addEvent(
    "gen_ai.client.token.usage",
    {
      "gen_ai.usage.input_tokens": 182,
      "gen_ai.usage.output_tokens": 41,
      "gen_ai.operation.name": "chat",
      "gen_ai.request.model": "gpt-4o-mini",
      "gen_ai.system": "openai",
    },
    at(start, 150),
  );
  turn.addEvent(
    "agentsight.message",
    {
      "agentsight.message.sender": "agent",
      "agentsight.message.content": "Sorry about that: the second charge is refunded.",
    },
    at(start, 160),
  );
  turn.addEvent(
    "agentsight.button",
    {
      "agentsight.button.event": "feedback",
      "agentsight.button.label": "Helpful",
      "agentsight.button.value": "thumbs_up",
    },
    at(start, 170),
  );
  // Required: without it the backend keeps the turn's messages out of the transcript.
  turn.setAttribute("agentsight.turn.complete", true);
  turn.end(at(start, 180));

  await provider.forceFlush();
  await provider.shutdown();
  console.log(
    JSON.stringify({ conversation_id: conversationId, trace_id: turn.spanContext().traceId }),
  );
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
