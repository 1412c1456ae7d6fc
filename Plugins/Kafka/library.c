/* The Kafka plugins, one library: KafkaSource, KafkaSink and KafkaAlerts (librdkafka). */
#include <sluice_plugin.h>

extern const sluice_plugin KAFKA_SOURCE, KAFKA_SINK, KAFKA_ALERTS;

SLUICE_DEFINE_LIBRARY(&KAFKA_SOURCE, &KAFKA_SINK, &KAFKA_ALERTS)
