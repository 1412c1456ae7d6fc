/*
 * libcurl for the Webhook plugin, loaded when the first stage is created rather than when
 * the plugin library is: listing plugins or running a pipeline without webhooks never pays
 * for loading libcurl and its TLS stack, and a machine without libcurl still lists the
 * plugin and says why a stage cannot be created.
 *
 * Every function below calls the libcurl function of the same name (after the prefix),
 * found with dlopen/dlsym in sluice_curl_load(). curl_easy_setopt, curl_easy_getinfo and
 * curl_multi_setopt are variadic, which Swift cannot call, so each argument type gets a
 * typed function. Types and constants come from <curl/curl.h> (libcurl4-openssl-dev).
 */
#ifndef SLUICE_CURL_H
#define SLUICE_CURL_H

#include <curl/curl.h>
#include <stddef.h>

/* Loads libcurl once (thread-safe) and runs curl_global_init. 0 on success; otherwise
 * -1 and the reason in `why` (NUL-terminated, at most `cap` bytes). */
int sluice_curl_load(char *why, size_t cap);

typedef size_t (*sluice_curl_data_fn)(char *data, size_t size, size_t n, void *user);

CURLM *sluice_curl_multi_init(void);
CURLMcode sluice_curl_multi_cleanup(CURLM *m);
CURLMcode sluice_curl_multi_set_long(CURLM *m, CURLMoption o, long v);
CURLMcode sluice_curl_multi_add_handle(CURLM *m, CURL *h);
CURLMcode sluice_curl_multi_remove_handle(CURLM *m, CURL *h);
CURLMcode sluice_curl_multi_perform(CURLM *m, int *running);
CURLMcode sluice_curl_multi_poll(CURLM *m, int timeout_ms);
/* The next finished transfer, or 0: its handle and result. */
int sluice_curl_multi_done(CURLM *m, CURL **handle, CURLcode *result);

CURL *sluice_curl_easy_init(void);
void sluice_curl_easy_reset(CURL *h);
void sluice_curl_easy_cleanup(CURL *h);
const char *sluice_curl_easy_strerror(CURLcode c);
CURLcode sluice_curl_set_long(CURL *h, CURLoption o, long v);
CURLcode sluice_curl_set_string(CURL *h, CURLoption o, const char *v);
CURLcode sluice_curl_set_pointer(CURL *h, CURLoption o, void *v);
CURLcode sluice_curl_set_size(CURL *h, CURLoption o, curl_off_t v);
/* Body bytes (CURLOPT_WRITEFUNCTION) and header lines (CURLOPT_HEADERFUNCTION) go to `fn`. */
CURLcode sluice_curl_set_write(CURL *h, sluice_curl_data_fn fn, void *user);
CURLcode sluice_curl_set_header_callback(CURL *h, sluice_curl_data_fn fn, void *user);
CURLcode sluice_curl_get_long(CURL *h, CURLINFO i, long *v);

struct curl_slist *sluice_curl_slist_append(struct curl_slist *list, const char *line);
void sluice_curl_slist_free_all(struct curl_slist *list);

/* The host libcurl's own URL parser reads in `url` (curl_url_get(CURLUPART_HOST), percent-
 * encoding decoded) into `host` (NUL-terminated): 0; -1 when libcurl refuses the URL or the
 * host does not fit in `cap` bytes. Call after sluice_curl_load succeeded. */
int sluice_curl_url_host(const char *url, char *host, size_t cap);

#endif
