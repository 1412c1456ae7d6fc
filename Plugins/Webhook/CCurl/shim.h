/*
 * libcurl for Swift: curl_easy_setopt, curl_easy_getinfo and curl_multi_setopt are
 * variadic, which Swift cannot call, so each argument type gets a typed wrapper.
 */
#ifndef SLUICE_CCURL_SHIM_H
#define SLUICE_CCURL_SHIM_H

#include <curl/curl.h>

typedef size_t (*sluice_curl_data_fn)(char *data, size_t size, size_t n, void *user);

static inline CURLcode sluice_curl_set_long(CURL *h, CURLoption o, long v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode sluice_curl_set_string(CURL *h, CURLoption o, const char *v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode sluice_curl_set_pointer(CURL *h, CURLoption o, void *v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode sluice_curl_set_size(CURL *h, CURLoption o, curl_off_t v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode sluice_curl_set_headers(CURL *h, struct curl_slist *list) {
    return curl_easy_setopt(h, CURLOPT_HTTPHEADER, list);
}
/* Body bytes (CURLOPT_WRITEFUNCTION) and header lines (CURLOPT_HEADERFUNCTION) go to `fn`. */
static inline CURLcode sluice_curl_set_write(CURL *h, sluice_curl_data_fn fn, void *user) {
    CURLcode c = curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, fn);
    return c != CURLE_OK ? c : curl_easy_setopt(h, CURLOPT_WRITEDATA, user);
}
static inline CURLcode sluice_curl_set_header_callback(CURL *h, sluice_curl_data_fn fn, void *user) {
    CURLcode c = curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, fn);
    return c != CURLE_OK ? c : curl_easy_setopt(h, CURLOPT_HEADERDATA, user);
}
static inline CURLcode sluice_curl_get_long(CURL *h, CURLINFO i, long *v) { return curl_easy_getinfo(h, i, v); }
static inline CURLcode sluice_curl_get_pointer(CURL *h, CURLINFO i, void **v) { return curl_easy_getinfo(h, i, v); }
static inline CURLMcode sluice_curlm_set_long(CURLM *m, CURLMoption o, long v) { return curl_multi_setopt(m, o, v); }

/* The easy handle a CURLMsg is about, and its result (a union in C). */
static inline CURL *sluice_curlmsg_handle(CURLMsg *m) { return m->easy_handle; }
static inline CURLcode sluice_curlmsg_result(CURLMsg *m) { return m->data.result; }
static inline int sluice_curlmsg_done(CURLMsg *m) { return m->msg == CURLMSG_DONE; }

#endif
