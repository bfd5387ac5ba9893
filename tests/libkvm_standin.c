/* A stand-in for NanoKVM's libkvm.so with the same C signatures (spec 6.1, kvm_vision.h), for tests.
 *
 * It returns scripted results: the test queues (result, bytes) pairs with standin_push() (unit
 * tests load this library in their own process), or points KVM_STANDIN_SCRIPT at a file of
 * records [int32 LE result][uint32 LE size][size bytes] that is played in a loop (the app, started
 * as a separate process, reads it). The MJPEG type plays records whose result is 0 or negative;
 * the H.264 type plays the others. Every call is counted so tests can check what the app did.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>

#define MAX_RECORDS 4096

typedef struct {
    int result;
    uint32_t size;
    uint8_t *data;
} record_t;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static record_t queued[MAX_RECORDS];
static int queued_head, queued_tail;
static record_t script[2][MAX_RECORDS]; /* [0] MJPEG, [1] H.264 */
static int script_len[2], script_at[2];

int standin_inits, standin_deinits, standin_reads, standin_frees, standin_outstanding;
int standin_last_width, standin_last_height, standin_last_type, standin_last_quality;
int standin_gop = -1, standin_gop_calls, standin_frame_detect = -1, standin_hdmi = 1;
int standin_gop_history[64];

static void load_script(void) {
    const char *path = getenv("KVM_STANDIN_SCRIPT");
    if (!path) return;
    FILE *f = fopen(path, "rb");
    if (!f) return;
    int32_t result;
    uint32_t size;
    while (fread(&result, 4, 1, f) == 1 && fread(&size, 4, 1, f) == 1) {
        uint8_t *data = malloc(size ? size : 1);
        if (size && fread(data, 1, size, f) != size) { free(data); break; }
        int kind = (result > 0) ? 1 : 0;
        if (script_len[kind] < MAX_RECORDS) {
            script[kind][script_len[kind]++] = (record_t){result, size, data};
        } else {
            free(data);
        }
    }
    fclose(f);
}

void kvmv_init(uint8_t debug) {
    (void)debug;
    pthread_mutex_lock(&lock);
    if (standin_inits++ == 0) load_script();
    pthread_mutex_unlock(&lock);
}

void kvmv_deinit(void) { standin_deinits++; }

void standin_push(int result, const uint8_t *data, uint32_t size) {
    pthread_mutex_lock(&lock);
    uint8_t *copy = malloc(size ? size : 1);
    if (size) memcpy(copy, data, size);
    queued[queued_tail % MAX_RECORDS] = (record_t){result, size, copy};
    queued_tail++;
    pthread_mutex_unlock(&lock);
}

int kvmv_read_img(uint16_t width, uint16_t height, uint8_t type, uint16_t quality, uint8_t **data, uint32_t *size) {
    record_t record = {-1, 0, NULL};
    int from_queue = 0;
    pthread_mutex_lock(&lock);
    standin_reads++;
    standin_last_width = width;
    standin_last_height = height;
    standin_last_type = type;
    standin_last_quality = quality;
    if (queued_head < queued_tail) {
        record = queued[queued_head % MAX_RECORDS];
        queued_head++;
        from_queue = 1;
    } else {
        int kind = type ? 1 : 0;
        if (script_len[kind]) {
            record = script[kind][script_at[kind]];
            script_at[kind] = (script_at[kind] + 1) % script_len[kind];
        }
    }
    pthread_mutex_unlock(&lock);
    *data = NULL;
    *size = 0;
    if (record.result >= 0 && record.result <= 4 && record.size) {
        *data = malloc(record.size);
        memcpy(*data, record.data, record.size);
        *size = record.size;
        __atomic_add_fetch(&standin_outstanding, 1, __ATOMIC_SEQ_CST);
    }
    if (from_queue) free(record.data);
    return record.result;
}

int free_kvmv_data(uint8_t **data) {
    if (data && *data) {
        free(*data);
        *data = NULL;
        __atomic_add_fetch(&standin_frees, 1, __ATOMIC_SEQ_CST);
        __atomic_sub_fetch(&standin_outstanding, 1, __ATOMIC_SEQ_CST);
    }
    return 0;
}

void free_all_kvmv_data(void) {}

void set_h264_gop(uint8_t gop) {
    pthread_mutex_lock(&lock);
    standin_gop = gop;
    if (standin_gop_calls < 64) standin_gop_history[standin_gop_calls] = gop;
    standin_gop_calls++;
    pthread_mutex_unlock(&lock);
}

void set_frame_detact(uint8_t frames) { standin_frame_detect = frames; }
void set_venc_auto_recyc(uint8_t enable) { (void)enable; }
uint8_t kvmv_hdmi_control(uint8_t enable) { standin_hdmi = enable; return 0; }
uint8_t kvmv_hdmi_signal_active(void) { return (uint8_t)standin_hdmi; }
