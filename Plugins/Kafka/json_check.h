/* KafkaSource's check of a message value before it goes to the host's parser: the same
 * parser (simdjson) with the host's depth bound, so every value the host would refuse is
 * caught here, where its topic, partition and offset are known. */
#ifndef SLUICE_KAFKA_JSON_CHECK_H
#define SLUICE_KAFKA_JSON_CHECK_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct kjson_checker kjson_checker;

/* NULL when out of memory. */
kjson_checker *kjson_checker_new(void);
void kjson_checker_free(kjson_checker *c);

/* 0 when `text` is one JSON object the host parses; -1 when it is not (why: the reason,
 * NUL-terminated, at most `cap` bytes); -2 when memory ran out (why says so). */
int kjson_check_object(kjson_checker *c, const char *text, size_t len, char *why, size_t cap);

#ifdef __cplusplus
}
#endif

#endif
