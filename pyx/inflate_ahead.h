/* The deflated chunks of a .pftrace inflated ahead of its scan, on a thread of their own
   (pyx/pftrace_scan.pyx): zlib's inflate needs no Python object and no GIL, so it runs on the
   second core while the scanner reads the chunk before. A few slots, each holding one
   inflated chunk, are reused from chunk to chunk (a fresh megabyte a chunk was page faults).

   The thread inflates chunks 0, 1, 2... in order, never more than VT_AHEAD_SLOTS ahead of
   the last one the scanner is through with. A chunk zlib refuses is marked, not reported: the
   scanner inflates it again the usual way, which raises what it always raised. */
#ifndef VIZTRACER_INFLATE_AHEAD_H
#define VIZTRACER_INFLATE_AHEAD_H
#include <Python.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define VT_AHEAD_SLOTS 3

typedef struct {
    const uint8_t *src;     /* the deflated bytes, in the file */
    size_t len;
} vt_chunk;

typedef struct {
    uint8_t *data;          /* the chunk inflated */
    size_t size, cap;
    int ok;                 /* 0: zlib refused it (or memory ran out) */
} vt_slot;

typedef struct {
    const vt_chunk *chunks;
    Py_ssize_t n;
    vt_slot slots[VT_AHEAD_SLOTS];
    Py_ssize_t done;        /* chunks inflated, in order */
    Py_ssize_t released;    /* chunks the scanner is through with */
    int stop;
    pthread_mutex_t lock;
    pthread_cond_t changed;
    pthread_t thread;
} vt_ahead;

/* Inflate src as zlib.decompress does (a zlib stream, bytes after its end ignored) into
   the slot's buffer; 1 when whole. */
static int vt_inflate(const vt_chunk *c, vt_slot *s) {
    z_stream z;
    int err;
    size_t cap;
    uint8_t *grown;
    if (c->len > UINT_MAX) return 0;
    memset(&z, 0, sizeof(z));
    if (inflateInit(&z) != Z_OK) return 0;
    z.next_in = (Bytef *)c->src;
    z.avail_in = (uInt)c->len;
    s->size = 0;
    for (;;) {
        if (s->size == s->cap) {
            cap = s->cap ? s->cap * 2 : (c->len * 4 > 65536 ? c->len * 4 : 65536);
            grown = (uint8_t *)realloc(s->data, cap);
            if (grown == NULL) break;
            s->data = grown;
            s->cap = cap;
        }
        z.next_out = s->data + s->size;
        z.avail_out = (uInt)(s->cap - s->size > UINT_MAX ? UINT_MAX : s->cap - s->size);
        cap = z.avail_out;
        err = inflate(&z, Z_NO_FLUSH);
        s->size += cap - z.avail_out;
        if (err == Z_STREAM_END) {
            inflateEnd(&z);
            return 1;
        }
        /* no progress with room to spare: the stream is cut short */
        if (err != Z_OK && !(err == Z_BUF_ERROR && z.avail_out == 0)) break;
        if (err == Z_OK && z.avail_in == 0 && z.avail_out > 0) break;
    }
    inflateEnd(&z);
    return 0;
}

static void *vt_ahead_run(void *arg) {
    vt_ahead *a = (vt_ahead *)arg;
    vt_slot *s;
    int ok;
    Py_ssize_t i;
    for (i = 0; i < a->n; i++) {
        pthread_mutex_lock(&a->lock);
        while (!a->stop && i - a->released >= VT_AHEAD_SLOTS)
            pthread_cond_wait(&a->changed, &a->lock);
        if (a->stop) {
            pthread_mutex_unlock(&a->lock);
            break;
        }
        pthread_mutex_unlock(&a->lock);
        s = &a->slots[i % VT_AHEAD_SLOTS];
        ok = vt_inflate(&a->chunks[i], s);
        pthread_mutex_lock(&a->lock);
        s->ok = ok;
        a->done = i + 1;
        pthread_cond_broadcast(&a->changed);
        pthread_mutex_unlock(&a->lock);
    }
    return NULL;
}

/* Start inflating chunks[0:n] (kept alive by the caller until vt_ahead_stop); NULL when no
   thread could be started: the scanner then inflates as it goes. */
static vt_ahead *vt_ahead_start(const vt_chunk *chunks, Py_ssize_t n) {
    vt_ahead *a = (vt_ahead *)calloc(1, sizeof(vt_ahead));
    if (a == NULL) return NULL;
    a->chunks = chunks;
    a->n = n;
    pthread_mutex_init(&a->lock, NULL);
    pthread_cond_init(&a->changed, NULL);
    if (pthread_create(&a->thread, NULL, vt_ahead_run, a) != 0) {
        pthread_mutex_destroy(&a->lock);
        pthread_cond_destroy(&a->changed);
        free(a);
        return NULL;
    }
    return a;
}

/* Chunk i, once inflated (call without the GIL: it may wait). The chunks must be taken in
   order, and each one released before the one VT_AHEAD_SLOTS further on is taken. */
static vt_slot *vt_ahead_take(vt_ahead *a, Py_ssize_t i) {
    pthread_mutex_lock(&a->lock);
    while (a->done <= i) pthread_cond_wait(&a->changed, &a->lock);
    pthread_mutex_unlock(&a->lock);
    return &a->slots[i % VT_AHEAD_SLOTS];
}

/* The scanner is through with chunk i: its slot may take another. */
static void vt_ahead_release(vt_ahead *a, Py_ssize_t i) {
    pthread_mutex_lock(&a->lock);
    a->released = i + 1;
    pthread_cond_broadcast(&a->changed);
    pthread_mutex_unlock(&a->lock);
}

/* Stop the thread (wherever it is), wait for it and free everything (call without the GIL). */
static void vt_ahead_stop(vt_ahead *a) {
    int k;
    pthread_mutex_lock(&a->lock);
    a->stop = 1;
    pthread_cond_broadcast(&a->changed);
    pthread_mutex_unlock(&a->lock);
    pthread_join(a->thread, NULL);
    for (k = 0; k < VT_AHEAD_SLOTS; k++) free(a->slots[k].data);
    pthread_mutex_destroy(&a->lock);
    pthread_cond_destroy(&a->changed);
    free(a);
}

#endif
