/* kafka-mock: a Kafka cluster on 127.0.0.1 for tests, demos and benchmarks — librdkafka's
 * mock cluster, which speaks the real Kafka protocol (produce, fetch, consumer groups,
 * offset commits) to any client: host, kcat, another librdkafka program.
 *
 *   kafka-mock [--brokers N] [--topic NAME[:PARTITIONS]]... [--bootstrap-file PATH]
 *
 * Creates the cluster and the topics, prints the bootstrap address (host:port,...) on one
 * line of standard output (and writes it to PATH when given), then runs until SIGINT or
 * SIGTERM. Everything is in memory: stopping it forgets every topic.
 *
 * While it runs it reads commands, one per line, on standard input, to stage faults (each
 * is answered on standard output by a line "ok" or "error: why"):
 *   down ID|all              broker ID (1..N) disconnects its clients and refuses new ones
 *   up ID|all                it accepts connections again
 *   rtt ID|all MS            it answers every request MS milliseconds late
 *   fail REQUEST COUNT ERROR the next COUNT requests of that kind (Produce, Fetch,
 *                            OffsetCommit, ... or the API key's number) fail with ERROR,
 *                            a Kafka error name (NOT_ENOUGH_REPLICAS, _TRANSPORT, ...)
 *   clear REQUEST            drops the failures still staged for that kind of request */
#define _GNU_SOURCE
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/signalfd.h>
#include <unistd.h>

/* The requests a fault can be staged for, by their Kafka protocol names. */
static const struct { const char *name; int16_t key; } REQUESTS[] = {
    {"Produce", 0}, {"Fetch", 1}, {"ListOffsets", 2}, {"Metadata", 3}, {"OffsetCommit", 8},
    {"OffsetFetch", 9}, {"FindCoordinator", 10}, {"JoinGroup", 11}, {"Heartbeat", 12},
    {"LeaveGroup", 13}, {"SyncGroup", 14}, {"InitProducerId", 22},
};

/* A broker id (1..brokers) or "all" (-1); 0 if neither. */
static int parse_broker(const char *word, int brokers, int32_t *id) {
    if (strcmp(word, "all") == 0) {
        *id = -1;
        return 1;
    }
    char *end = NULL;
    long n = strtol(word, &end, 10);
    if (!end || *end || n < 1 || n > brokers) return 0;
    *id = (int32_t)n;
    return 1;
}

static int parse_error(const char *word, rd_kafka_resp_err_t *err) {
    const struct rd_kafka_err_desc *descs = NULL;
    size_t count = 0;
    rd_kafka_get_err_descs(&descs, &count);
    for (size_t i = 0; i < count; i++)
        if (descs[i].name && strcasecmp(descs[i].name, word) == 0) {
            *err = descs[i].code;
            return 1;
        }
    return 0;
}

/* Carries out one command line; writes the answer into `answer`. */
static void command(rd_kafka_mock_cluster_t *cluster, int brokers, char *line, char *answer, size_t size) {
    char *words[5] = {0};
    int n = 0;
    for (char *save = NULL, *w = strtok_r(line, " \t\r", &save); w && n < 5; w = strtok_r(NULL, " \t\r", &save))
        words[n++] = w;
    int32_t id = 0;
    rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
    if (n == 0) {
        snprintf(answer, size, "error: an empty command");
    } else if ((strcmp(words[0], "down") == 0 || strcmp(words[0], "up") == 0) && n == 2) {
        if (!parse_broker(words[1], brokers, &id)) {
            snprintf(answer, size, "error: '%s' is not a broker (1 to %d, or all)", words[1], brokers);
            return;
        }
        err = words[0][0] == 'd' ? rd_kafka_mock_broker_set_down(cluster, id) : rd_kafka_mock_broker_set_up(cluster, id);
        snprintf(answer, size, err ? "error: %s" : "ok", rd_kafka_err2str(err));
    } else if (strcmp(words[0], "rtt") == 0 && n == 3) {
        char *end = NULL;
        long ms = strtol(words[2], &end, 10);
        if (!parse_broker(words[1], brokers, &id) || !end || *end || ms < 0 || ms > 600000) {
            snprintf(answer, size, "error: rtt takes a broker (1 to %d, or all) and 0 to 600000 ms", brokers);
            return;
        }
        err = rd_kafka_mock_broker_set_rtt(cluster, id, (int)ms);
        snprintf(answer, size, err ? "error: %s" : "ok", rd_kafka_err2str(err));
    } else if ((strcmp(words[0], "fail") == 0 && n == 4) || (strcmp(words[0], "clear") == 0 && n == 2)) {
        int16_t key = -1;
        for (size_t i = 0; i < sizeof REQUESTS / sizeof REQUESTS[0]; i++)
            if (strcasecmp(REQUESTS[i].name, words[1]) == 0) key = REQUESTS[i].key;
        char *end = NULL;
        long number = strtol(words[1], &end, 10);
        if (key < 0 && end && !*end && number >= 0 && number < 100) key = (int16_t)number;
        if (words[0][0] == 'c') {
            if (key < 0) {
                snprintf(answer, size, "error: clear takes a request (Produce, Fetch, ... or its number)");
                return;
            }
            rd_kafka_mock_clear_request_errors(cluster, key);
            snprintf(answer, size, "ok");
            return;
        }
        long count = strtol(words[2], &end, 10);
        if (key < 0 || !end || *end || count < 1 || count > 1000000 || !parse_error(words[3], &err)) {
            snprintf(answer, size, "error: fail takes a request (Produce, Fetch, ... or its number), a count (1 to 1000000) and a Kafka error name");
            return;
        }
        rd_kafka_resp_err_t *errors = malloc((size_t)count * sizeof *errors);
        if (!errors) {
            snprintf(answer, size, "error: out of memory");
            return;
        }
        for (long i = 0; i < count; i++) errors[i] = err;
        rd_kafka_mock_push_request_errors_array(cluster, key, (size_t)count, errors);
        free(errors);
        snprintf(answer, size, "ok");
    } else {
        snprintf(answer, size, "error: unknown command (down ID, up ID, rtt ID MS, fail REQUEST COUNT ERROR, clear REQUEST)");
    }
}

static void usage(void) {
    fprintf(stderr, "usage: kafka-mock [--brokers N] [--topic NAME[:PARTITIONS]]... [--bootstrap-file PATH]\n");
}

int main(int argc, char **argv) {
    int brokers = 1;
    const char *bootstrap_file = NULL;
    const char *topics[256];
    int partitions[256], ntopics = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--brokers") == 0 && i + 1 < argc) {
            char *end = NULL;
            long n = strtol(argv[++i], &end, 10);
            if (!end || *end || n < 1 || n > 16) {
                fprintf(stderr, "kafka-mock: --brokers takes 1 to 16\n");
                return 2;
            }
            brokers = (int)n;
        } else if (strcmp(argv[i], "--topic") == 0 && i + 1 < argc) {
            if (ntopics == 256) {
                fprintf(stderr, "kafka-mock: at most 256 topics\n");
                return 2;
            }
            char *spec = argv[++i];
            char *colon = strrchr(spec, ':');
            int p = 1;
            if (colon) {
                char *end = NULL;
                long n = strtol(colon + 1, &end, 10);
                if (!end || *end || n < 1 || n > 1000) {
                    fprintf(stderr, "kafka-mock: '%s': partitions must be 1 to 1000\n", spec);
                    return 2;
                }
                p = (int)n;
                *colon = 0;
            }
            if (!*spec) {
                fprintf(stderr, "kafka-mock: a topic needs a name\n");
                return 2;
            }
            topics[ntopics] = spec;
            partitions[ntopics++] = p;
        } else if (strcmp(argv[i], "--bootstrap-file") == 0 && i + 1 < argc) {
            bootstrap_file = argv[++i];
        } else {
            usage();
            return 2;
        }
    }
    /* Stop on SIGINT/SIGTERM: block them here (the cluster's threads inherit the mask) and
     * read them from a signalfd below, beside the commands on standard input. */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    int sigfd = signalfd(-1, &stop, SFD_CLOEXEC);
    if (sigfd < 0) {
        fprintf(stderr, "kafka-mock: signalfd: %s\n", strerror(errno));
        return 1;
    }

    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "log_level", "3", err, sizeof err);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (!rk) {
        fprintf(stderr, "kafka-mock: %s\n", err);
        return 1;
    }
    rd_kafka_mock_cluster_t *cluster = rd_kafka_mock_cluster_new(rk, brokers);
    if (!cluster) {
        fprintf(stderr, "kafka-mock: cannot start a mock cluster\n");
        rd_kafka_destroy(rk);
        return 1;
    }
    for (int i = 0; i < ntopics; i++) {
        rd_kafka_resp_err_t e = rd_kafka_mock_topic_create(cluster, topics[i], partitions[i], brokers < 3 ? brokers : 3);
        if (e) {
            fprintf(stderr, "kafka-mock: cannot create topic '%s': %s\n", topics[i], rd_kafka_err2str(e));
            return 1;
        }
    }
    const char *bootstrap = rd_kafka_mock_cluster_bootstraps(cluster);
    if (bootstrap_file) {
        char tmp[4096];
        snprintf(tmp, sizeof tmp, "%s.tmp", bootstrap_file);
        FILE *f = fopen(tmp, "w");
        if (!f || fprintf(f, "%s\n", bootstrap) < 0 || fclose(f) != 0 || rename(tmp, bootstrap_file) != 0) {
            fprintf(stderr, "kafka-mock: cannot write %s\n", bootstrap_file);
            return 1;
        }
    }
    printf("%s\n", bootstrap);
    fflush(stdout);
    fprintf(stderr, "kafka-mock: %d broker(s) at %s;", brokers, bootstrap);
    for (int i = 0; i < ntopics; i++) fprintf(stderr, " %s (%d partitions)", topics[i], partitions[i]);
    fprintf(stderr, "; stop with Ctrl-C or SIGTERM\n");
    char line[4096];
    size_t used = 0;
    int reading = 1, skipping = 0; /* skipping: the rest of a line too long to be a command */
    for (;;) {
        struct pollfd fds[2] = {{.fd = sigfd, .events = POLLIN}, {.fd = STDIN_FILENO, .events = POLLIN}};
        if (poll(fds, reading ? 2 : 1, -1) < 0) {
            if (errno == EINTR) continue;
            break;
        }
        if (fds[0].revents) break;
        if (!reading || !fds[1].revents) continue;
        ssize_t got = read(STDIN_FILENO, line + used, sizeof line - 1 - used);
        if (got <= 0) {
            if (got < 0 && errno == EINTR) continue;
            reading = 0; /* standard input closed: just wait for the signal */
            continue;
        }
        used += (size_t)got;
        char *start = line, *nl;
        while ((nl = memchr(start, '\n', used - (size_t)(start - line)))) {
            *nl = 0;
            if (skipping) {
                skipping = 0; /* its one answer was given when it overflowed */
            } else {
                char answer[512];
                command(cluster, brokers, start, answer, sizeof answer);
                printf("%s\n", answer);
                fflush(stdout);
            }
            start = nl + 1;
        }
        used -= (size_t)(start - line);
        memmove(line, start, used);
        if (used == sizeof line - 1) { /* a line longer than any command: one answer, then skip to its end */
            used = 0;
            if (!skipping) {
                printf("error: a command line longer than %zu bytes\n", sizeof line - 1);
                fflush(stdout);
            }
            skipping = 1;
        }
    }
    rd_kafka_mock_cluster_destroy(cluster);
    rd_kafka_destroy(rk);
    return 0;
}
