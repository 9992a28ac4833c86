// The zhcls export in ./model/ classified in the page by transformers.js on ONNX Runtime Web (wasm).
// Nothing leaves this origin: the library, the wasm runtime and the model are all served from here.
//
// Query parameters: ?dtype=q8 (default, onnx/model_quantized.onnx) or fp32 (onnx/model.onnx);
// ?threads=N wasm threads (more than 1 needs a cross-origin isolated page, which `zhcls serve --web` gives).
import { Tensor, env, pipeline } from './node_modules/@huggingface/transformers/dist/transformers.js';

const params = new URLSearchParams(location.search);
const dtype = params.get('dtype') ?? 'q8';
const threads = Number(params.get('threads') ?? 0);  // 0: ONNX Runtime Web's own choice

env.allowLocalModels = true;
env.allowRemoteModels = false;
env.localModelPath = new URL('./', location.href).pathname;
// Without these paths transformers.js fetches the wasm runtime from a CDN. This is the CPU-only build, half
// the size of the WebGPU-capable one (.asyncify) transformers.js picks by default.
const ortDist = new URL('./node_modules/onnxruntime-web/dist/', location.href).href;
env.backends.onnx.wasm.wasmPaths = {
  mjs: `${ortDist}ort-wasm-simd-threaded.mjs`,
  wasm: `${ortDist}ort-wasm-simd-threaded.wasm`,
};
if (threads > 0) env.backends.onnx.wasm.numThreads = threads;

const status = document.getElementById('status');
const input = document.getElementById('text');
const button = document.getElementById('classify');
const result = document.getElementById('result');
let calls = 0;

// At most `budget` ids of a long text: its first, its last, or the first half and the last half of them, by
// the policy the model was trained with (zhcls.json's truncation), as zhcls.runtime cuts them.
function cutIds(ids, budget, policy) {
  if (ids.length <= budget) return ids;
  if (policy === 'head') return ids.slice(0, budget);
  if (policy === 'tail') return ids.slice(ids.length - budget);
  const head = Math.floor(budget / 2);
  return [...ids.slice(0, head), ...ids.slice(ids.length - (budget - head))];
}

// The pipeline's own call truncates after adding [SEP], and only at the tail of a text, so a long text would
// lose its [SEP] and, for a model trained on head+tail, the end of the review. Encoding here keeps
// [CLS] + the policy's max_length - 2 tokens + [SEP], as `zhcls predict` does.
function encode(text) {
  const { tokenizer } = classifier;
  const [cls, sep] = tokenizer('', { return_tensor: false }).input_ids;
  const body = tokenizer(text, { add_special_tokens: false, return_tensor: false }).input_ids;
  const ids = [cls, ...cutIds(body, manifest.max_length - 2, manifest.truncation), sep];
  const tensor = (values) => new Tensor('int64', BigInt64Array.from(values, BigInt), [1, values.length]);
  return {
    input_ids: tensor(ids),
    attention_mask: tensor(ids.map(() => 1)),
    token_type_ids: tensor(ids.map(() => 0)),
  };
}

async function predict(text) {
  const { logits } = await classifier.model(encode(text));
  const top = Math.max(...logits.data);
  const exp = Array.from(logits.data, (value) => Math.exp(value - top));
  const total = exp.reduce((sum, value) => sum + value, 0);
  const best = exp.indexOf(Math.max(...exp));
  return { label: classifier.model.config.id2label[best], score: exp[best] / total };
}

async function classify(text) {
  const start = performance.now();
  const best = await predict(text);
  const ms = performance.now() - start;
  calls += 1;
  document.getElementById('label').textContent = best.label;
  const score = document.getElementById('score');
  score.textContent = best.score.toFixed(4);
  score.dataset.value = String(best.score);
  document.getElementById('latency').textContent = `${ms.toFixed(1)} ms`;
  result.dataset.latencyMs = String(ms);
  result.dataset.calls = String(calls);
  return { ...best, ms };
}

let classifier;
let manifest;
let loadMs;
try {
  const loadStart = performance.now();
  const response = await fetch('./model/zhcls.json');
  if (!response.ok) throw new Error(`model/zhcls.json: HTTP ${response.status}`);
  manifest = await response.json();
  classifier = await pipeline('text-classification', 'model', { dtype, device: 'wasm' });
  loadMs = performance.now() - loadStart;
  status.textContent = `model loaded in ${loadMs.toFixed(0)} ms (${dtype}, wasm, ` +
    `${env.backends.onnx.wasm.numThreads} thread(s), cross-origin isolated: ${crossOriginIsolated})`;
  status.dataset.ready = 'true';
  button.disabled = false;
} catch (error) {
  status.textContent = `could not load the model: ${error.message ?? error}`;
  status.className = 'error';
  status.dataset.ready = 'false';
  throw error;
}

button.addEventListener('click', () => classify(input.value));
window.zhcls = {
  classify, dtype, loadMs, truncation: manifest.truncation, threads: env.backends.onnx.wasm.numThreads,
};
