/* kafka-mock: a Kafka cluster on 127.0.0.1 for tests, demos and benchmarks — librdkafka's
 * mock cluster, which speaks the real Kafka protocol (produce, fetch, consumer groups,
 * offset commits) to any client: host, kcat, another librdkafka program.
 *
 *   kafka-mock [--brokers N] [--topic NAME[:PARTITIONS]]... [--bootstrap-file PATH]
 *
 * Creates the cluster and the topics, prints the bootstrap address (host:port,...) on one
 * line of standard output (and writes it to PATH when given), then runs until SIGINT or
 * SIGTERM. Everything is in memory: stopping it forgets every topic. */
#define _POSIX_C_SOURCE 200809L
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
     * wait for one below. */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);

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
    int sig = 0;
    sigwait(&stop, &sig);
    rd_kafka_mock_cluster_destroy(cluster);
    rd_kafka_destroy(rk);
    return 0;
}
