// The live feed of the running pipeline: one EventSource (/api/v1/events), reconnected with
// backoff, its state shown in #live-status; pages subscribe to `status` and `batch`.
// Applies at most one status update a second, whatever the server sends.
import * as api from './api.js';

export class Live {
  constructor(indicator) {
    this.indicator = indicator;
    this.listeners = {status: new Set(), batch: new Set()};
    this.status = null;
    this.source = null;
    this.pipeline = null;
    this.backoff = 1000;
    this.timer = null;
    this.pending = null;
    this.lastApplied = 0;
    this.setState('off', 'no live run');
    // A page kept in the back/forward cache must not keep its stream: each holds one of the
    // browser's few connections to the host (six), and the next page would wait for one.
    addEventListener('pagehide', () => { if (this.source) { this.stop(); this.resume = true; } });
    addEventListener('pageshow', () => { if (this.resume) { this.resume = false; this.connect(); } });
  }

  setState(state, label, title) {
    this.indicator.setAttribute('data-state', state);
    this.indicator.querySelector('.label').textContent = label;
    this.indicator.setAttribute('title', title ?? label);
  }

  /// Follows `pipeline` when it is live; else turns the feed off.
  follow(pipeline, mode) {
    if (this.pipeline === pipeline?.id && (this.source || this.timer)) return;
    this.stop();
    this.status = null;
    this.pipeline = pipeline?.id ?? null;
    if (mode !== 'run' || !pipeline?.live) {
      this.setState('off', mode === 'serve' ? 'history' : 'not live',
        mode === 'serve' ? 'host serve: recorded runs only, no live counters' : 'this pipeline has no run in this host');
      return;
    }
    // The current state at once; the events bring what changes.
    api.getOptional(api.pipelinePath(this.pipeline, '/status')).then(s => { if (s) this.emitStatus(s, true); }).catch(() => {});
    this.connect();
  }

  connect() {
    this.timer = null;
    const id = this.pipeline;
    const es = new EventSource(`/api/v1/events?pipeline=${encodeURIComponent(id)}`);
    this.source = es;
    this.setState('disconnected', 'connecting…');
    es.addEventListener('open', () => {
      this.backoff = 1000;
      this.setState('connected', 'live', 'receiving live updates');
    });
    es.addEventListener('status', e => { try { this.emitStatus(JSON.parse(e.data)); } catch { /* a torn event */ } });
    es.addEventListener('batch', e => {
      let b;
      try { b = JSON.parse(e.data); } catch { return; }
      for (const fn of this.listeners.batch) fn(b);
    });
    es.addEventListener('error', () => {
      // EventSource retries by itself while the stream looks alive; when it gives up
      // (CLOSED), or the host went away, we retry with backoff.
      es.close();
      if (this.source !== es) return;
      this.source = null;
      const wait = this.backoff;
      this.backoff = Math.min(this.backoff * 2, 30000);
      this.setState('disconnected', 'reconnecting', `connection lost; retrying in ${Math.round(wait / 1000)} s`);
      this.timer = setTimeout(() => this.connect(), wait);
    });
  }

  emitStatus(status, now = false) {
    this.pending = status;
    const due = this.lastApplied + 1000 - Date.now();
    if (now || due <= 0) return this.flush();
    if (!this.flushTimer) this.flushTimer = setTimeout(() => this.flush(), due);
  }

  flush() {
    this.flushTimer = null;
    if (!this.pending) return;
    this.status = this.pending;
    this.pending = null;
    this.lastApplied = Date.now();
    for (const fn of this.listeners.status) fn(this.status);
  }

  stop() {
    this.source?.close();
    this.source = null;
    clearTimeout(this.timer);
    this.timer = null;
    // A status of the pipeline left behind never reaches the next one's page.
    clearTimeout(this.flushTimer);
    this.flushTimer = null;
    this.pending = null;
  }

  /// Calls `fn` on every status (at once with the last one if known); returns an unsubscribe.
  on(kind, fn) {
    this.listeners[kind].add(fn);
    if (kind === 'status' && this.status) fn(this.status);
    return () => this.listeners[kind].delete(fn);
  }
}
