/*
 * The request worker pool: a FIFO of tasks under one mutex, and n threads waiting on a condition
 * variable. See workers.h for the contract.
 */
#include "workers.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

#include "alloc.h"
#include "log.h"

struct seg_workers {
	pthread_mutex_t lock;
	pthread_cond_t ready;
	struct seg_task *head, *tail;
	int queued, running;
	bool stopping;
	int queue_timeout_ms;
	pthread_t *threads;
	int nthreads;
};

static int64_t seg__now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void *seg__worker_main(void *arg)
{
	struct seg_workers *w = arg;

	pthread_mutex_lock(&w->lock);
	for (;;) {
		while (!w->head && !w->stopping)
			pthread_cond_wait(&w->ready, &w->lock);
		struct seg_task *t = w->head;
		if (!t)
			break; /* stopping, and nothing left */
		w->head = t->next;
		if (!w->head)
			w->tail = NULL;
		w->queued--;
		w->running++;
		enum seg_worker_run how = SEG_WORKER_RUN;
		if (w->stopping)
			how = SEG_WORKER_CANCELLED;
		else if (w->queue_timeout_ms > 0 &&
			 seg__now_ms() - t->queued_ms > w->queue_timeout_ms)
			how = SEG_WORKER_EXPIRED;
		pthread_mutex_unlock(&w->lock);
		t->run(t, how);
		seg_log_set_request(NULL);
		pthread_mutex_lock(&w->lock);
		w->running--;
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

struct seg_workers *seg_workers_new(int n, int queue_timeout_ms)
{
	struct seg_workers *w = seg_calloc(1, sizeof(*w));
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->ready, NULL);
	w->queue_timeout_ms = queue_timeout_ms;
	w->threads = seg_calloc((size_t)(n > 0 ? n : 1), sizeof(pthread_t));
	for (int i = 0; i < n; i++) {
		if (pthread_create(&w->threads[w->nthreads], NULL, seg__worker_main, w) != 0) {
			seg_error("could not start request worker %d of %d", i + 1, n);
			break;
		}
		w->nthreads++;
	}
	if (w->nthreads == 0)
		abort(); /* nothing could run a request */
	return w;
}

void seg_workers_submit(struct seg_workers *w, struct seg_task *task)
{
	task->next = NULL;
	task->queued_ms = seg__now_ms();
	pthread_mutex_lock(&w->lock);
	if (w->stopping && w->nthreads == 0) {
		pthread_mutex_unlock(&w->lock);
		task->run(task, SEG_WORKER_CANCELLED); /* the threads are gone */
		return;
	}
	if (w->tail)
		w->tail->next = task;
	else
		w->head = task;
	w->tail = task;
	w->queued++;
	pthread_cond_signal(&w->ready);
	pthread_mutex_unlock(&w->lock);
}

void seg_workers_stats(struct seg_workers *w, int *queued, int *running)
{
	pthread_mutex_lock(&w->lock);
	*queued = w->queued;
	*running = w->running;
	pthread_mutex_unlock(&w->lock);
}

void seg_workers_stop(struct seg_workers *w)
{
	if (!w)
		return;
	pthread_mutex_lock(&w->lock);
	w->stopping = true;
	pthread_cond_broadcast(&w->ready);
	pthread_mutex_unlock(&w->lock);
	for (int i = 0; i < w->nthreads; i++)
		pthread_join(w->threads[i], NULL);
	pthread_mutex_lock(&w->lock);
	w->nthreads = 0;
	pthread_mutex_unlock(&w->lock);
}

void seg_workers_free(struct seg_workers *w)
{
	if (!w)
		return;
	seg_workers_stop(w);
	pthread_cond_destroy(&w->ready);
	pthread_mutex_destroy(&w->lock);
	free(w->threads);
	free(w);
}
