// A Vercel AI SDK chat whose only telemetry is the SDK's own (`experimental_telemetry`): two
// turns of one session, the first a generateText call that runs a tool, the second a streamed
// answer whose tool fails. Spans go over OTLP/HTTP (to a Collector, usually) and reach
// AgentSight through the agentsight-otel bridge; no agentsight-otel code runs here.
//
//   OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318 MODEL_BASE_URL=http://127.0.0.1:8000/v1 \
//     SESSION_ID=chat-123 USER_ID=customer-7 node chat.mjs
//
// SPANS_OUT=file.json also writes the finished spans there, as the SDK made them.
import { writeFileSync } from "node:fs";
import { context, trace } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { resourceFromAttributes } from "@opentelemetry/resources";
import {
  BasicTracerProvider,
  BatchSpanProcessor,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from "@opentelemetry/sdk-trace-base";
import { createOpenAICompatible } from "@ai-sdk/openai-compatible";
import { generateText, stepCountIs, streamText, tool } from "ai";
import { z } from "zod";

const memory = new InMemorySpanExporter();
const processors = [new BatchSpanProcessor(new OTLPTraceExporter())];
if (process.env.SPANS_OUT) processors.push(new SimpleSpanProcessor(memory));
const provider = new BasicTracerProvider({
  resource: resourceFromAttributes({ "service.name": "vercel-ai-chat" }),
  spanProcessors: processors,
});
context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
trace.setGlobalTracerProvider(provider);

const llm = createOpenAICompatible({
  name: "testllm",
  baseURL: process.env.MODEL_BASE_URL,
  includeUsage: true,
});
const model = llm.chatModel("test-model");
// The session is the AgentSight conversation; the user its customer.
const telemetry = {
  isEnabled: true,
  functionId: "weather-chat",
  metadata: { sessionId: process.env.SESSION_ID, userId: process.env.USER_ID },
};
const tools = {
  get_weather: tool({
    description: "The weather in a city",
    inputSchema: z.object({ city: z.string() }),
    execute: async ({ city }) => `sunny in ${city}`,
  }),
  get_forecast: tool({
    description: "Tomorrow's forecast for a city",
    inputSchema: z.object({ city: z.string() }),
    execute: async () => {
      throw new Error("forecast service unavailable");
    },
  }),
};

const chat = {
  model,
  system: "You are a weather assistant. Be brief.",
  tools,
  stopWhen: stepCountIs(3),
  experimental_telemetry: telemetry,
};
const messages = [{ role: "user", content: "What's the weather in Paris?" }];
const first = await generateText({ ...chat, messages });
messages.push(...first.response.messages);
messages.push({ role: "user", content: "And tomorrow?" });

const second = streamText({ ...chat, messages });
let streamed = "";
for await (const piece of second.textStream) streamed += piece;

if (process.env.SPANS_OUT) writeFileSync(process.env.SPANS_OUT, JSON.stringify(spansOf(memory)));
await provider.shutdown();
console.log(JSON.stringify({ session: process.env.SESSION_ID, answers: [first.text, streamed] }));

function spansOf(exporter) {
  const ns = ([seconds, nanos]) => (BigInt(seconds) * 1000000000n + BigInt(nanos)).toString();
  return exporter.getFinishedSpans().map((span) => ({
    name: span.name,
    trace_id: span.spanContext().traceId,
    span_id: span.spanContext().spanId,
    parent_span_id: span.parentSpanContext?.spanId ?? null,
    start_ns: ns(span.startTime),
    end_ns: ns(span.endTime),
    status: span.status,
    scope: span.instrumentationScope,
    attributes: span.attributes,
    events: span.events.map((e) => ({ name: e.name, time_ns: ns(e.time), attributes: e.attributes })),
  }));
}
