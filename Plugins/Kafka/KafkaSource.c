/* KafkaSource: reads a consumer group's share of Kafka topics.
 *
 * - Message values are handed to the host's JSON Lines parser in runs (emit_json_lines), as
 *   JSONLSource hands it file text: one run per stretch of consecutive offsets of one
 *   partition. Each value is checked first, with the host's own parser and bounds
 *   (json_check.cpp): one the host would refuse — not JSON, cut short, not an object, not
 *   UTF-8, empty — goes to the error port as {topic, partition, offset, text} with the
 *   message "topic/partition:offset: why" and is counted in `bad_messages`, so the host's
 *   parser only ever sees values it takes.
 * - Each record gains a field (default `_kafka`) holding topic, partition, offset,
 *   timestamp and key, spliced into the value's text before the host parses it.
 * - Offsets are committed only in commit(N), that is after every sink and publisher
 *   finished batch N (at-least-once). A rebalance commits the finished batches of the
 *   partitions being given up and forgets the unfinished ones: their new owner reads them
 *   again.
 * - Lag (ABI 1.6): after every read, for each partition this consumer owns, the records
 *   behind = the partition's high watermark (its end offset) minus this consumer's position
 *   (the offset after the last message it handed out; before any, the committed offset),
 *   reported as "topic/partition". The high watermark is librdkafka's cached one, updated by
 *   every fetch response: nothing is asked of the brokers for it, so a read never waits on
 *   it. Unknown (-1) until the first fetch of a partition answered.
 * - A commit the group refuses because it is rebalancing pauses the partitions this
 *   consumer owns: it reads nothing more until the commit lands (read() tries it again
 *   every 100 ms) or the partitions are given up. The host reads one batch ahead and
 *   commits each finished batch before it reads on, so a rebalance leaves at most two
 *   batches for the next owner to read again — not everything read until this consumer
 *   learns of the rebalance at its next heartbeat (docs/scaling.md).
 */
#define _GNU_SOURCE
#include "json_check.h"
#include "kafka_common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The next offset to read, per partition, as of one batch. */
typedef struct pending {
    uint64_t batch;
    rd_kafka_topic_partition_list_t *offsets;
} pending;

typedef struct source {
    klog log; /* first: librdkafka's opaque */
    rd_kafka_t *rk;
    char *brokers;
    char *field; /* metadata field name ("" for none) */
    int64_t idle_end_ms;
    pending *pending;
    size_t npending, cap_pending;
    rd_kafka_topic_partition_list_t *done;      /* finished (commit(N) seen): next offsets */
    rd_kafka_topic_partition_list_t *committed; /* what Kafka has */
    kbuf run, prefix;
    kjson_checker *checker;
    kbuf text; /* a bad message's value as its error record's text */
    char run_topic[256];
    int32_t run_partition;
    int64_t run_first, run_next;
    int64_t last_message_ms; /* or of the last assignment: idleEndMs counts from there */
    int assigned;            /* partitions were assigned at least once */
    uint64_t records;
    /* Reading held back: the partitions paused because the group refused a commit while it
     * rebalances (empty: reading), and when the commit was last tried. */
    rd_kafka_topic_partition_list_t *held;
    int64_t held_tried_ms;
    /* A rebalance moved partitions since the host was last told (inputs_changed, ABI 1.5:
     * its alerts with a life then resolve nothing for lack of data; docs/scaling.md). */
    int inputs_moved;
} source;

static void forget_partitions(source *s, const rd_kafka_topic_partition_list_t *parts);
static rd_kafka_resp_err_t commit_done(source *s, const rd_kafka_topic_partition_list_t *only, int quiet);
static void release(source *s, const rd_kafka_topic_partition_list_t *only);

static void set_offset(rd_kafka_topic_partition_list_t *list, const char *topic, int32_t partition, int64_t next) {
    rd_kafka_topic_partition_t *tp = rd_kafka_topic_partition_list_find(list, topic, partition);
    if (!tp) tp = rd_kafka_topic_partition_list_add(list, topic, partition);
    if (tp->offset < next) tp->offset = next;
}

static void rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t *parts, void *opaque) {
    source *s = opaque;
    int cooperative = strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;
    /* Told to the host by the read that follows (this may run inside a commit's poll); not
     * the first assignment of this consumer: nothing moved away from it yet. */
    if (err != RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS || s->assigned) s->inputs_moved = 1;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        if (s->log.out) sluice_logf(s->log.out, 2, "assigned %d partition(s)", parts->cnt);
        s->assigned = 1;
        s->last_message_ms = know_ms();
        /* What this consumer knew of them from an earlier assignment is stale: another
         * host may have owned and committed them since. */
        forget_partitions(s, parts);
        if (cooperative) {
            rd_kafka_error_t *e = rd_kafka_incremental_assign(rk, parts);
            if (e) rd_kafka_error_destroy(e);
        } else {
            rd_kafka_assign(rk, parts);
        }
    } else {
        /* Given up: what finished is committed now, what did not is the new owner's. */
        commit_done(s, parts, 0);
        forget_partitions(s, parts);
        release(s, parts); /* not paused by this host if they come back */
        s->last_message_ms = know_ms(); /* idleEndMs does not count a rebalance's wait */
        if (s->log.out) sluice_logf(s->log.out, 2, "gave up %d partition(s) in a rebalance", parts->cnt);
        if (cooperative) {
            rd_kafka_error_t *e = rd_kafka_incremental_unassign(rk, parts);
            if (e) rd_kafka_error_destroy(e);
        } else {
            rd_kafka_assign(rk, NULL);
        }
    }
}

static rd_kafka_topic_partition_list_t *without(const rd_kafka_topic_partition_list_t *list,
                                                const rd_kafka_topic_partition_list_t *parts) {
    rd_kafka_topic_partition_list_t *kept = rd_kafka_topic_partition_list_new(list->cnt ? list->cnt : 1);
    for (int i = 0; i < list->cnt; i++) {
        const rd_kafka_topic_partition_t *tp = &list->elems[i];
        if (!rd_kafka_topic_partition_list_find((rd_kafka_topic_partition_list_t *)parts, tp->topic, tp->partition))
            rd_kafka_topic_partition_list_add(kept, tp->topic, tp->partition)->offset = tp->offset;
    }
    return kept;
}

static void forget_partitions(source *s, const rd_kafka_topic_partition_list_t *parts) {
    rd_kafka_topic_partition_list_t *d = without(s->done, parts), *c = without(s->committed, parts);
    rd_kafka_topic_partition_list_destroy(s->done);
    rd_kafka_topic_partition_list_destroy(s->committed);
    s->done = d;
    s->committed = c;
    for (size_t i = 0; i < s->npending; i++) {
        rd_kafka_topic_partition_list_t *p = without(s->pending[i].offsets, parts);
        rd_kafka_topic_partition_list_destroy(s->pending[i].offsets);
        s->pending[i].offsets = p;
    }
}

/* Drops from `list` the partitions this consumer does not own now. */
static void keep_owned(source *s, rd_kafka_topic_partition_list_t *list) {
    rd_kafka_topic_partition_list_t *owned = NULL;
    if (rd_kafka_assignment(s->rk, &owned) != RD_KAFKA_RESP_ERR_NO_ERROR || !owned) return;
    for (int i = list->cnt - 1; i >= 0; i--)
        if (!rd_kafka_topic_partition_list_find(owned, list->elems[i].topic, list->elems[i].partition))
            rd_kafka_topic_partition_list_del_by_idx(list, i);
    rd_kafka_topic_partition_list_destroy(owned);
}

/* Commits the finished offsets Kafka does not have yet (of `only`'s partitions when given).
 * Returns the error (what failed is kept for the next commit; logged unless `quiet`), or
 * NO_ERROR. */
static rd_kafka_resp_err_t commit_done(source *s, const rd_kafka_topic_partition_list_t *only, int quiet) {
    rd_kafka_topic_partition_list_t *todo = rd_kafka_topic_partition_list_new(s->done->cnt ? s->done->cnt : 1);
    for (int i = 0; i < s->done->cnt; i++) {
        const rd_kafka_topic_partition_t *tp = &s->done->elems[i];
        if (only && !rd_kafka_topic_partition_list_find((rd_kafka_topic_partition_list_t *)only, tp->topic, tp->partition))
            continue;
        rd_kafka_topic_partition_t *c = rd_kafka_topic_partition_list_find(s->committed, tp->topic, tp->partition);
        if (c && c->offset >= tp->offset) continue;
        rd_kafka_topic_partition_list_add(todo, tp->topic, tp->partition)->offset = tp->offset;
    }
    rd_kafka_resp_err_t rc = RD_KAFKA_RESP_ERR_NO_ERROR;
    if (todo->cnt > 0) {
        rd_kafka_resp_err_t err = rd_kafka_commit(s->rk, todo, 0);
        if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            for (int i = 0; i < todo->cnt; i++) {
                if (todo->elems[i].err) continue;
                set_offset(s->committed, todo->elems[i].topic, todo->elems[i].partition, todo->elems[i].offset);
            }
        } else if (err != RD_KAFKA_RESP_ERR__NO_OFFSET) {
            if (s->log.out && !quiet)
                sluice_logf(s->log.out, 3, "committing offsets of %d partition(s) failed: %s (kept for the next commit; "
                            "read again if another host takes the partitions over first)", todo->cnt, rd_kafka_err2str(err));
            rc = err;
        }
    }
    rd_kafka_topic_partition_list_destroy(todo);
    return rc;
}

/* The group refuses commits while it rebalances (the coordinator's answers, and librdkafka's
 * own when this consumer has left the generation). */
static int rebalancing(rd_kafka_resp_err_t err) {
    return err == RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS || err == RD_KAFKA_RESP_ERR_ILLEGAL_GENERATION ||
           err == RD_KAFKA_RESP_ERR_UNKNOWN_MEMBER_ID || err == RD_KAFKA_RESP_ERR__ASSIGNMENT_LOST;
}

/* Holds reading back: pauses every owned partition not paused yet. Until the refused offsets
 * are committed or the partitions given up, this host reads nothing more that the next
 * owner would have to read again. (A paused partition fetches nothing; librdkafka drops what
 * it had fetched and resumes after the last message handed out.) */
static void hold(source *s, const rd_kafka_topic_partition_list_t *owned) {
    rd_kafka_topic_partition_list_t *more = rd_kafka_topic_partition_list_new(owned->cnt ? owned->cnt : 1);
    for (int i = 0; i < owned->cnt; i++) {
        const rd_kafka_topic_partition_t *tp = &owned->elems[i];
        if (!rd_kafka_topic_partition_list_find(s->held, tp->topic, tp->partition))
            rd_kafka_topic_partition_list_add(more, tp->topic, tp->partition);
    }
    if (more->cnt > 0) {
        rd_kafka_pause_partitions(s->rk, more);
        for (int i = 0; i < more->cnt; i++)
            if (!more->elems[i].err) rd_kafka_topic_partition_list_add(s->held, more->elems[i].topic, more->elems[i].partition);
        if (s->log.out)
            sluice_logf(s->log.out, 2, "the group is rebalancing: reading paused on %d partition(s) until their offsets "
                        "are committed or they are given up", more->cnt);
    }
    rd_kafka_topic_partition_list_destroy(more);
    s->held_tried_ms = know_ms();
}

/* Resumes the held partitions (those of `only` when given). */
static void release(source *s, const rd_kafka_topic_partition_list_t *only) {
    if (s->held->cnt == 0) return;
    rd_kafka_topic_partition_list_t *go = rd_kafka_topic_partition_list_new(s->held->cnt);
    for (int i = 0; i < s->held->cnt; i++) {
        const rd_kafka_topic_partition_t *tp = &s->held->elems[i];
        if (!only || rd_kafka_topic_partition_list_find((rd_kafka_topic_partition_list_t *)only, tp->topic, tp->partition))
            rd_kafka_topic_partition_list_add(go, tp->topic, tp->partition);
    }
    if (go->cnt > 0) {
        rd_kafka_resume_partitions(s->rk, go);
        rd_kafka_topic_partition_list_t *kept = without(s->held, go);
        rd_kafka_topic_partition_list_destroy(s->held);
        s->held = kept;
    }
    rd_kafka_topic_partition_list_destroy(go);
}

/* Commits the finished offsets of the partitions this consumer owns (the others were handed
 * over). Refused because the group is rebalancing: reading is held back (the offsets wait in
 * `done`); committed: reading resumes. Returns any other error, or NO_ERROR. */
static rd_kafka_resp_err_t commit_owned(source *s, int quiet) {
    rd_kafka_topic_partition_list_t *owned = NULL;
    if (rd_kafka_assignment(s->rk, &owned) != RD_KAFKA_RESP_ERR_NO_ERROR || !owned) return RD_KAFKA_RESP_ERR_NO_ERROR;
    rd_kafka_resp_err_t err = commit_done(s, owned, quiet);
    if (rebalancing(err)) {
        hold(s, owned);
        err = RD_KAFKA_RESP_ERR_NO_ERROR;
    } else if (err == RD_KAFKA_RESP_ERR_NO_ERROR && s->held->cnt > 0) {
        if (s->log.out) sluice_logf(s->log.out, 2, "offsets committed: reading resumed on %d partition(s)", s->held->cnt);
        release(s, NULL);
    }
    rd_kafka_topic_partition_list_destroy(owned);
    return err;
}

/* Hands the run of consecutive messages collected so far to the host's parser. */
static sluice_status flush_run(source *s, const sluice_emitter *out) {
    if (s->run.len == 0) return SLUICE_OK;
    char origin[300];
    int n = snprintf(origin, sizeof origin, "%s/%d", s->run_topic, (int)s->run_partition);
    sluice_str o = {origin, n > 0 && (size_t)n < sizeof origin ? (size_t)n : 0};
    sluice_status st = out->emit_json_lines(out->ctx, s->run.data, s->run.len, o, (uint64_t)s->run_first);
    s->run.len = 0;
    return st;
}

/* The most bytes of a bad message's value its error record keeps (as JSON Lines sources
 * keep at most 4 KiB of a bad line). */
#define BAD_TEXT_BYTES 4096

/* Sends a message the host's parser would refuse to the error port as {topic, partition,
 * offset, text} (text: at most 4 KiB of the value, as valid UTF-8) and counts it. */
static void message_error(source *s, const sluice_emitter *out, const rd_kafka_message_t *m, const char *why) {
    const char *topic = rd_kafka_topic_name(m->rkt);
    char msg[600];
    int n = snprintf(msg, sizeof msg, "%s/%d:%lld: %s", topic, (int)m->partition, (long long)m->offset, why);
    sluice_field f[4];
    f[0] = sluice_field_of(SLUICE_NO_KEY, "topic", sluice_string(topic, strlen(topic)));
    f[1] = sluice_field_of(SLUICE_NO_KEY, "partition", sluice_int(m->partition));
    f[2] = sluice_field_of(SLUICE_NO_KEY, "offset", sluice_int(m->offset));
    s->text.len = 0;
    if (m->payload) kbuf_put_utf8(&s->text, m->payload, m->len, BAD_TEXT_BYTES); /* out of memory: what fitted */
    f[3] = sluice_field_of(SLUICE_NO_KEY, "text", sluice_string(s->text.data ? s->text.data : "", s->text.len));
    sluice_record r = {f, 4, 0};
    out->emit_error(out->ctx, &r, 1, msg, n > 0 && (size_t)n < sizeof msg ? (size_t)n : sizeof msg - 1);
    out->count(out->ctx, "bad_messages", 12, 1);
}

/* Appends one message's value to the run, with the metadata field spliced in, on one line.
 * 0 appended; 1 sent to the error port instead (not what the host parses as a record);
 * -1 out of memory. */
static int append_message(source *s, const sluice_emitter *out, const rd_kafka_message_t *m) {
    const char *v = m->payload;
    size_t n = v ? m->len : 0, i = 0;
    while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == '\r' || v[i] == '\n')) i++;
    if (i == n) {
        message_error(s, out, m, "the message has no value (a JSON object was expected)");
        return 1;
    }
    char why[300];
    int checked = kjson_check_object(s->checker, v + i, n - i, why, sizeof why);
    if (checked == -2) return -1;
    if (checked != 0) {
        message_error(s, out, m, why);
        return 1;
    }
    /* Valid JSON has no line break inside a string: any there is is whitespace. */
    int has_break = memchr(v + i, '\n', n - i) != NULL || memchr(v + i, '\r', n - i) != NULL;
    kbuf *b = &s->run;
    if (kbuf_reserve(b, n + s->prefix.len + 600 + (m->key_len * 6)) != 0) return -1;
    kbuf_putc(b, '{');
    if (s->field[0]) {
        const char *topic = rd_kafka_topic_name(m->rkt);
        rd_kafka_timestamp_type_t tstype;
        int64_t ts = rd_kafka_message_timestamp(m, &tstype);
        kbuf_put_json_string(b, s->field, strlen(s->field));
        kbuf_printf(b, ":{\"topic\":");
        kbuf_put_json_string(b, topic, strlen(topic));
        kbuf_printf(b, ",\"partition\":%d,\"offset\":%lld,\"timestamp\":", (int)m->partition, (long long)m->offset);
        if (ts >= 0) kbuf_printf(b, "%lld", (long long)ts);
        else kbuf_put(b, "null", 4);
        kbuf_put(b, ",\"key\":", 7);
        if (m->key) kbuf_put_json_string(b, m->key, m->key_len);
        else kbuf_put(b, "null", 4);
        kbuf_putc(b, '}');
        size_t k = i + 1;
        while (k < n && (v[k] == ' ' || v[k] == '\t' || v[k] == '\r' || v[k] == '\n')) k++;
        if (k < n && v[k] != '}') kbuf_putc(b, ',');
    }
    size_t start = b->len;
    kbuf_put(b, v + i + 1, n - i - 1);
    if (has_break)
        for (size_t k = start; k < b->len; k++)
            if (b->data[k] == '\n' || b->data[k] == '\r') b->data[k] = ' ';
    kbuf_putc(b, '\n');
    return 0;
}

static sluice_status source_create(const sluice_context *ctx, const sluice_emitter *out, void **instance) {
    source *s = calloc(1, sizeof *s);
    if (!s) return sluice_failf(out, "out of memory");
    s->log.out = out;
    s->done = rd_kafka_topic_partition_list_new(8);
    s->committed = rd_kafka_topic_partition_list_new(8);
    s->held = rd_kafka_topic_partition_list_new(8);
    *instance = s;
    char *topics = kprop(ctx, "topics"), *group = kprop(ctx, "groupId"), *config = kprop(ctx, "config");
    char *field = kprop(ctx, "metadataField");
    s->brokers = kprop(ctx, "brokers");
    s->field = field ? field : strdup("");
    int64_t timeout_ms = 0;
    sluice_status st = SLUICE_ERROR;
    char err[512];
    rd_kafka_conf_t *conf = NULL;
    rd_kafka_topic_partition_list_t *subscription = NULL;
    const struct rd_kafka_metadata *md = NULL;
    if (!(s->checker = kjson_checker_new())) {
        sluice_failf(out, "out of memory");
        goto done;
    }
    if (!s->brokers || !topics || !group) {
        sluice_failf(out, "properties 'brokers', 'topics' and 'groupId' are required");
        goto done;
    }
    if (kprop_int(ctx, out, "connectTimeoutMs", 10000, 100, 600000, &timeout_ms) != 0 ||
        kprop_int(ctx, out, "idleEndMs", 0, 0, INT64_C(86400000), &s->idle_end_ms) != 0)
        goto done;
    conf = rd_kafka_conf_new();
    rd_kafka_conf_set_opaque(conf, s);
    klog_setup(conf);
    if (kconf_set(conf, out, "property 'brokers'", "bootstrap.servers", s->brokers) ||
        kconf_set(conf, out, "property 'groupId'", "group.id", group) ||
        kconf_set(conf, out, "the source", "enable.auto.commit", "false") ||
        kconf_set(conf, out, "the source", "enable.auto.offset.store", "false") ||
        kconf_set(conf, out, "the source", "auto.offset.reset", "earliest") ||
        /* With librdkafka's default (100000 messages prefetched, for all partitions
         * together) a consumer that keeps up stalls for about 0.8 s every so often: once
         * past it, the prefetcher pauses for a fixed time, longer than the queue lasts.
         * 300000 tripled the rate at about twice the memory (docs/benchmarks.md). */
        kconf_set(conf, out, "the source", "queued.min.messages", "300000") ||
        kconf_apply_lines(conf, out, config))
        goto done;
    rd_kafka_conf_set_rebalance_cb(conf, rebalance);
    s->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    if (!s->rk) {
        sluice_failf(out, "cannot make a Kafka consumer: %s", err);
        goto done;
    }
    conf = NULL; /* owned by rk now */
    rd_kafka_set_log_queue(s->rk, NULL);
    /* Reachable? Within the bound, or a clear error naming the brokers. */
    rd_kafka_resp_err_t merr = rd_kafka_metadata(s->rk, 1, NULL, &md, (int)timeout_ms);
    rd_kafka_poll(s->rk, 0);
    if (merr) {
        sluice_failf(out, "cannot reach the Kafka brokers '%s' within %lld ms: %s", s->brokers, (long long)timeout_ms,
                     rd_kafka_err2str(merr));
        goto done;
    }
    subscription = rd_kafka_topic_partition_list_new(4);
    for (char *save = NULL, *t = strtok_r(topics, ", \n", &save); t; t = strtok_r(NULL, ", \n", &save)) {
        rd_kafka_topic_partition_list_add(subscription, t, RD_KAFKA_PARTITION_UA);
        if (t[0] == '^') continue; /* a pattern: matched as topics come and go */
        int found = 0;
        for (int i = 0; i < md->topic_cnt && !found; i++)
            found = strcmp(md->topics[i].topic, t) == 0 && md->topics[i].err == RD_KAFKA_RESP_ERR_NO_ERROR;
        if (!found) {
            sluice_failf(out, "topic '%s' does not exist on the Kafka brokers '%s'", t, s->brokers);
            goto done;
        }
    }
    if (subscription->cnt == 0) {
        sluice_failf(out, "property 'topics' names no topic");
        goto done;
    }
    rd_kafka_poll_set_consumer(s->rk);
    rd_kafka_resp_err_t serr = rd_kafka_subscribe(s->rk, subscription);
    if (serr) {
        sluice_failf(out, "cannot subscribe to '%s': %s", topics, rd_kafka_err2str(serr));
        goto done;
    }
    s->last_message_ms = know_ms();
    st = SLUICE_OK;
done:
    if (md) rd_kafka_metadata_destroy(md);
    if (subscription) rd_kafka_topic_partition_list_destroy(subscription);
    if (conf) rd_kafka_conf_destroy(conf);
    free(topics);
    free(group);
    free(config);
    s->log.out = NULL;
    return st;
}

/* Reports the records behind the end of each owned partition (see the top). */
static void report_lag(source *s, const sluice_emitter *out) {
    if (!SLUICE_HAS(out, sluice_emitter, report_lag)) return;
    rd_kafka_topic_partition_list_t *owned = NULL;
    if (rd_kafka_assignment(s->rk, &owned) != RD_KAFKA_RESP_ERR_NO_ERROR || !owned) return;
    if (owned->cnt > 0 && rd_kafka_position(s->rk, owned) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        for (int i = 0; i < owned->cnt && i < SLUICE_MAX_LAG_PARTITIONS; i++) {
            const rd_kafka_topic_partition_t *tp = &owned->elems[i];
            int64_t low = -1, high = -1, behind = -1, at = tp->offset;
            if (at < 0) {
                const rd_kafka_topic_partition_t *c = rd_kafka_topic_partition_list_find(s->committed, tp->topic, tp->partition);
                if (c) at = c->offset;
            }
            if (at >= 0 && rd_kafka_get_watermark_offsets(s->rk, tp->topic, tp->partition, &low, &high) == RD_KAFKA_RESP_ERR_NO_ERROR &&
                high >= 0)
                behind = high > at ? high - at : 0;
            char name[SLUICE_MAX_LAG_NAME];
            int n = snprintf(name, sizeof name, "%s/%d", tp->topic, (int)tp->partition);
            if (n > 0 && (size_t)n < sizeof name) out->report_lag(out->ctx, name, (size_t)n, behind, -1);
        }
    }
    rd_kafka_topic_partition_list_destroy(owned);
}

static sluice_status source_read(void *instance, const sluice_batch *batch, const sluice_emitter *out) {
    source *s = instance;
    s->log.out = out;
    rd_kafka_topic_partition_list_t *offsets = rd_kafka_topic_partition_list_new(8);
    int64_t deadline = know_ms() + batch->max_wait_ms;
    uint64_t emitted = 0;
    sluice_status st = SLUICE_OK;
    s->run.len = 0;
    /* One message per call: librdkafka 2.0's batch consume API may hand out messages of
     * partitions revoked during the call (a known issue of that release). */
    /* max_wait_ms 0 (the host asking "anything more right now?"): what librdkafka has
     * fetched already, without waiting. */
    int now_only = batch->max_wait_ms == 0;
    while (emitted < batch->max_records && st == SLUICE_OK) {
        if (s->held->cnt > 0) {
            /* Held back: the rebalance neither counts as idle time nor ends the wait for the
             * commit, which is tried again every 100 ms until it lands or the partitions go. */
            s->last_message_ms = know_ms();
            if (know_ms() - s->held_tried_ms >= 100) {
                s->held_tried_ms = know_ms();
                rd_kafka_resp_err_t err = commit_owned(s, 1);
                if (err) {
                    /* Retry drops what this call gave, so only a call that gave nothing
                     * answers it; one that did ends here, and the next read tries again. */
                    if (emitted == 0) {
                        st = SLUICE_RETRY;
                        sluice_failf(out, "committing Kafka offsets failed: %s", rd_kafka_err2str(err));
                    }
                    break;
                }
            }
        }
        int64_t left = deadline - know_ms();
        if (left <= 0 && !now_only) break;
        rd_kafka_message_t *m = rd_kafka_consumer_poll(s->rk, now_only ? 0 : left > 100 ? 100 : (int)left);
        if (!m && now_only) break;
        if (!m) {
            if (emitted == 0 && s->idle_end_ms > 0 && s->assigned && know_ms() - s->last_message_ms >= s->idle_end_ms)
                st = SLUICE_END;
            continue;
        }
        if (m->err) {
            if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) sluice_logf(out, 3, "consumer: %s", rd_kafka_message_errstr(m));
            rd_kafka_message_destroy(m);
            continue;
        }
        s->last_message_ms = know_ms();
        const char *topic = rd_kafka_topic_name(m->rkt);
        int continues = s->run.len > 0 && m->partition == s->run_partition && m->offset == s->run_next &&
                        strcmp(topic, s->run_topic) == 0;
        if (!continues && (st = flush_run(s, out)) != SLUICE_OK) { /* the run stops: nothing is committed */
            rd_kafka_message_destroy(m);
            break;
        }
        int r = append_message(s, out, m);
        if (r < 0) {
            rd_kafka_message_destroy(m);
            st = sluice_failf(out, "out of memory");
            break;
        }
        if (r == 0) {
            if (!continues) {
                snprintf(s->run_topic, sizeof s->run_topic, "%s", topic);
                s->run_partition = m->partition;
                s->run_first = m->offset;
            }
            s->run_next = m->offset + 1;
        }
        set_offset(offsets, topic, m->partition, m->offset + 1);
        emitted++;
        rd_kafka_message_destroy(m);
    }
    /* A partition given up during this read (the rebalance callback runs inside the poll)
     * is the new owner's: its offsets here must never be committed. */
    keep_owned(s, offsets);
    if (st == SLUICE_OK || st == SLUICE_END) {
        sluice_status f = flush_run(s, out);
        if (f != SLUICE_OK) st = f;
    }
    s->records += emitted;
    if (offsets->cnt > 0 && st != SLUICE_ERROR) {
        if (s->npending == s->cap_pending) {
            size_t cap = s->cap_pending ? s->cap_pending * 2 : 8;
            pending *p = realloc(s->pending, cap * sizeof *p);
            if (!p) {
                rd_kafka_topic_partition_list_destroy(offsets);
                s->log.out = NULL;
                return sluice_failf(out, "out of memory");
            }
            s->pending = p;
            s->cap_pending = cap;
        }
        s->pending[s->npending++] = (pending){batch->id, offsets};
    } else {
        rd_kafka_topic_partition_list_destroy(offsets);
    }
    if (s->inputs_moved && SLUICE_HAS(out, sluice_emitter, inputs_changed) && out->inputs_changed(out->ctx) == SLUICE_OK)
        s->inputs_moved = 0;
    if (st != SLUICE_ERROR) report_lag(s, out);
    s->log.out = NULL;
    return st;
}

static sluice_status source_commit(void *instance, uint64_t batch_id, const sluice_emitter *out) {
    source *s = instance;
    s->log.out = out;
    size_t kept = 0;
    for (size_t i = 0; i < s->npending; i++) {
        pending *p = &s->pending[i];
        if (p->batch <= batch_id) {
            for (int k = 0; k < p->offsets->cnt; k++)
                set_offset(s->done, p->offsets->elems[k].topic, p->offsets->elems[k].partition, p->offsets->elems[k].offset);
            rd_kafka_topic_partition_list_destroy(p->offsets);
        } else {
            s->pending[kept++] = *p;
        }
    }
    s->npending = kept;
    /* A rebalance under way refuses commits: the offsets wait in `done`, and reading is held
     * back until they are committed (tried again by the next reads) or the partitions given
     * up (the rebalance callback tries once more, then they are the new owner's to read
     * again). Other failures answer retry. */
    sluice_status st = SLUICE_OK;
    rd_kafka_resp_err_t err = commit_owned(s, 0);
    if (err) {
        st = SLUICE_RETRY;
        sluice_failf(out, "committing Kafka offsets failed: %s", rd_kafka_err2str(err));
    }
    s->log.out = NULL;
    return st;
}

static void source_destroy(void *instance) {
    source *s = instance;
    if (!s) return;
    if (s->rk) {
        rd_kafka_consumer_close(s->rk);
        rd_kafka_destroy(s->rk);
    }
    for (size_t i = 0; i < s->npending; i++) rd_kafka_topic_partition_list_destroy(s->pending[i].offsets);
    free(s->pending);
    rd_kafka_topic_partition_list_destroy(s->done);
    rd_kafka_topic_partition_list_destroy(s->committed);
    rd_kafka_topic_partition_list_destroy(s->held);
    kbuf_free(&s->run);
    kbuf_free(&s->prefix);
    kbuf_free(&s->text);
    kjson_checker_free(s->checker);
    free(s->brokers);
    free(s->field);
    free(s);
}

const sluice_plugin KAFKA_SOURCE = {
    .size = sizeof(sluice_plugin),
    .type = SLUICE_SOURCE,
    .name = "KafkaSource",
    .version = "1.0.0",
    .create = source_create,
    .destroy = source_destroy,
    .read = source_read,
    .commit = source_commit,
};
