/* libcurl, loaded on first use: see include/sluice_curl.h. */
#include "sluice_curl.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static struct {
    CURLcode (*global_init)(long);
    CURLM *(*multi_init)(void);
    CURLMcode (*multi_cleanup)(CURLM *);
    CURLMcode (*multi_setopt)(CURLM *, CURLMoption, ...);
    CURLMcode (*multi_add_handle)(CURLM *, CURL *);
    CURLMcode (*multi_remove_handle)(CURLM *, CURL *);
    CURLMcode (*multi_perform)(CURLM *, int *);
    CURLMcode (*multi_poll)(CURLM *, struct curl_waitfd *, unsigned int, int, int *);
    CURLMsg *(*multi_info_read)(CURLM *, int *);
    CURL *(*easy_init)(void);
    void (*easy_reset)(CURL *);
    void (*easy_cleanup)(CURL *);
    const char *(*easy_strerror)(CURLcode);
    CURLcode (*easy_setopt)(CURL *, CURLoption, ...);
    CURLcode (*easy_getinfo)(CURL *, CURLINFO, ...);
    struct curl_slist *(*slist_append)(struct curl_slist *, const char *);
    void (*slist_free_all)(struct curl_slist *);
    CURLU *(*url)(void);
    void (*url_cleanup)(CURLU *);
    CURLUcode (*url_set)(CURLU *, CURLUPart, const char *, unsigned int);
    CURLUcode (*url_get)(CURLU *, CURLUPart, char **, unsigned int);
    void (*free)(void *);
} api;

static pthread_once_t once = PTHREAD_ONCE_INIT;
static char failure[512];

static void load(void) {
    /* libcurl4 (OpenSSL) first, then whatever libcurl.so the system has. */
    const char *names[] = {"libcurl.so.4", "libcurl-gnutls.so.4", "libcurl.so"};
    void *lib = NULL;
    for (size_t i = 0; i < sizeof names / sizeof names[0] && !lib; i++) lib = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        const char *e = dlerror();
        snprintf(failure, sizeof failure, "libcurl cannot be loaded (install libcurl4): %s", e ? e : "not found");
        return;
    }
#define SYM(field, name)                                                                            \
    do {                                                                                            \
        *(void **)(&api.field) = dlsym(lib, name);                                                  \
        if (!api.field) {                                                                           \
            snprintf(failure, sizeof failure, "libcurl has no %s: it is older than 7.66, upgrade it", name); \
            return;                                                                                 \
        }                                                                                           \
    } while (0)
    SYM(global_init, "curl_global_init");
    SYM(multi_init, "curl_multi_init");
    SYM(multi_cleanup, "curl_multi_cleanup");
    SYM(multi_setopt, "curl_multi_setopt");
    SYM(multi_add_handle, "curl_multi_add_handle");
    SYM(multi_remove_handle, "curl_multi_remove_handle");
    SYM(multi_perform, "curl_multi_perform");
    SYM(multi_poll, "curl_multi_poll");
    SYM(multi_info_read, "curl_multi_info_read");
    SYM(easy_init, "curl_easy_init");
    SYM(easy_reset, "curl_easy_reset");
    SYM(easy_cleanup, "curl_easy_cleanup");
    SYM(easy_strerror, "curl_easy_strerror");
    SYM(easy_setopt, "curl_easy_setopt");
    SYM(easy_getinfo, "curl_easy_getinfo");
    SYM(slist_append, "curl_slist_append");
    SYM(slist_free_all, "curl_slist_free_all");
    SYM(url, "curl_url");
    SYM(url_cleanup, "curl_url_cleanup");
    SYM(url_set, "curl_url_set");
    SYM(url_get, "curl_url_get");
    SYM(free, "curl_free");
#undef SYM
    if (api.global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        snprintf(failure, sizeof failure, "curl_global_init failed");
        return;
    }
    failure[0] = 0;
}

int sluice_curl_load(char *why, size_t cap) {
    pthread_once(&once, load);
    if (failure[0] == 0) return 0;
    if (why && cap) snprintf(why, cap, "%s", failure);
    return -1;
}

CURLM *sluice_curl_multi_init(void) { return api.multi_init(); }
CURLMcode sluice_curl_multi_cleanup(CURLM *m) { return api.multi_cleanup(m); }
CURLMcode sluice_curl_multi_set_long(CURLM *m, CURLMoption o, long v) { return api.multi_setopt(m, o, v); }
CURLMcode sluice_curl_multi_add_handle(CURLM *m, CURL *h) { return api.multi_add_handle(m, h); }
CURLMcode sluice_curl_multi_remove_handle(CURLM *m, CURL *h) { return api.multi_remove_handle(m, h); }
CURLMcode sluice_curl_multi_perform(CURLM *m, int *running) { return api.multi_perform(m, running); }
CURLMcode sluice_curl_multi_poll(CURLM *m, int timeout_ms) { return api.multi_poll(m, NULL, 0, timeout_ms, NULL); }

int sluice_curl_multi_done(CURLM *m, CURL **handle, CURLcode *result) {
    int left = 0;
    CURLMsg *msg;
    while ((msg = api.multi_info_read(m, &left)) != NULL) {
        if (msg->msg == CURLMSG_DONE) {
            *handle = msg->easy_handle;
            *result = msg->data.result;
            return 1;
        }
    }
    return 0;
}

CURL *sluice_curl_easy_init(void) { return api.easy_init(); }
void sluice_curl_easy_reset(CURL *h) { api.easy_reset(h); }
void sluice_curl_easy_cleanup(CURL *h) { api.easy_cleanup(h); }
const char *sluice_curl_easy_strerror(CURLcode c) { return api.easy_strerror(c); }
CURLcode sluice_curl_set_long(CURL *h, CURLoption o, long v) { return api.easy_setopt(h, o, v); }
CURLcode sluice_curl_set_string(CURL *h, CURLoption o, const char *v) { return api.easy_setopt(h, o, v); }
CURLcode sluice_curl_set_pointer(CURL *h, CURLoption o, void *v) { return api.easy_setopt(h, o, v); }
CURLcode sluice_curl_set_size(CURL *h, CURLoption o, curl_off_t v) { return api.easy_setopt(h, o, v); }

CURLcode sluice_curl_set_write(CURL *h, sluice_curl_data_fn fn, void *user) {
    CURLcode c = api.easy_setopt(h, CURLOPT_WRITEFUNCTION, fn);
    return c != CURLE_OK ? c : api.easy_setopt(h, CURLOPT_WRITEDATA, user);
}

CURLcode sluice_curl_set_header_callback(CURL *h, sluice_curl_data_fn fn, void *user) {
    CURLcode c = api.easy_setopt(h, CURLOPT_HEADERFUNCTION, fn);
    return c != CURLE_OK ? c : api.easy_setopt(h, CURLOPT_HEADERDATA, user);
}

CURLcode sluice_curl_get_long(CURL *h, CURLINFO i, long *v) { return api.easy_getinfo(h, i, v); }
struct curl_slist *sluice_curl_slist_append(struct curl_slist *list, const char *line) { return api.slist_append(list, line); }
void sluice_curl_slist_free_all(struct curl_slist *list) { api.slist_free_all(list); }

int sluice_curl_url_host(const char *url, char *host, size_t cap) {
    if (!cap) return -1;
    host[0] = 0;
    CURLU *u = api.url();
    if (!u) return -1;
    char *part = NULL;
    int result = -1;
    if (api.url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK && api.url_get(u, CURLUPART_HOST, &part, 0) == CURLUE_OK && part) {
        size_t n = strlen(part);
        if (n < cap) {
            memcpy(host, part, n + 1);
            result = 0;
        }
    }
    if (part) api.free(part);
    api.url_cleanup(u);
    return result;
}
