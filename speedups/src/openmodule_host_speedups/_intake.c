/* openmodule_host_speedups._intake: read a batch of whole messages from a ZeroMQ socket with the GIL released.
 *
 * libzmq is not linked: bind() looks its functions up in the libzmq pyzmq already loaded (through pyzmq's
 * backend module, whose dependency it is; see _libzmq.h), so this module always calls the same libzmq as pyzmq.
 * Only libzmq's stable C API is used; zmq_msg_t is declared here as libzmq 4.x declares it (64 bytes).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <errno.h>
#include <stddef.h>

#include "_libzmq.h"

typedef struct {
    unsigned char _[64];
} __attribute__((aligned(sizeof(void *)))) zmq_msg;

#define ZMQ_DONTWAIT 1
#define MAX_LIMIT 65536

static int (*msg_init)(zmq_msg *);
static int (*msg_recv)(zmq_msg *, void *, int);
static int (*msg_close)(zmq_msg *);
static void *(*msg_data)(zmq_msg *);
static size_t (*msg_size)(const zmq_msg *);
static int (*msg_more)(const zmq_msg *);
static int (*zmq_errno_)(void);

/* bind(path): path names a shared object already loaded that is, or depends on, libzmq (pyzmq's backend). */
static PyObject *bind(PyObject *self, PyObject *path) {
    void *library = libzmq_open(path);
    if (library == NULL) return NULL;
    if (libzmq_lookup(library, (void **)&msg_init, "zmq_msg_init")
        || libzmq_lookup(library, (void **)&msg_recv, "zmq_msg_recv")
        || libzmq_lookup(library, (void **)&msg_close, "zmq_msg_close")
        || libzmq_lookup(library, (void **)&msg_data, "zmq_msg_data")
        || libzmq_lookup(library, (void **)&msg_size, "zmq_msg_size")
        || libzmq_lookup(library, (void **)&msg_more, "zmq_msg_more")
        || libzmq_lookup(library, (void **)&zmq_errno_, "zmq_errno")) {
        msg_recv = NULL;
        return NULL;
    }
    Py_RETURN_NONE;
}

/* recv_batch(socket, limit) -> (messages, error)
 *
 * socket: the address of a libzmq socket (pyzmq's Socket.underlying), used by the calling thread only.
 * Receives whole messages without waiting until none is left or `limit` were read, all with the GIL released,
 * then makes each one a tuple of its frames' bytes. error is 0, or the errno that ended the batch when it was
 * not "nothing left" (EAGAIN) or a signal (EINTR); a message cut short by it is dropped (libzmq delivers the
 * frames of a message together, so only the socket's or the context's end can cut one).
 */
static PyObject *recv_batch(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "recv_batch(socket, limit) takes 2 arguments");
        return NULL;
    }
    void *socket = PyLong_AsVoidPtr(args[0]);
    if (socket == NULL && PyErr_Occurred()) return NULL;
    Py_ssize_t limit = PyLong_AsSsize_t(args[1]);
    if (limit == -1 && PyErr_Occurred()) return NULL;
    if (socket == NULL || limit < 1 || limit > MAX_LIMIT) {
        PyErr_SetString(PyExc_ValueError, "recv_batch: no socket, or a limit outside 1..65536");
        return NULL;
    }
    if (msg_recv == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "recv_batch: libzmq is not bound");
        return NULL;
    }

    Py_ssize_t capacity = 2 * limit, frames_read = 0, messages_read = 0;
    zmq_msg *frames = PyMem_RawMalloc(sizeof(zmq_msg) * (size_t)capacity);
    Py_ssize_t *counts = PyMem_RawMalloc(sizeof(Py_ssize_t) * (size_t)limit);
    if (frames == NULL || counts == NULL) {
        PyMem_RawFree(frames);
        PyMem_RawFree(counts);
        return PyErr_NoMemory();
    }
    int error = 0, out_of_memory = 0;

    Py_BEGIN_ALLOW_THREADS
    while (messages_read < limit && !error && !out_of_memory) {
        Py_ssize_t first = frames_read;
        int more = 1;
        while (more) {
            if (frames_read == capacity) {
                zmq_msg *grown = PyMem_RawRealloc(frames, sizeof(zmq_msg) * (size_t)capacity * 2);
                if (grown == NULL) {
                    out_of_memory = 1;
                    break;
                }
                frames = grown;
                capacity *= 2;
            }
            zmq_msg *frame = &frames[frames_read];
            msg_init(frame);
            if (msg_recv(frame, socket, ZMQ_DONTWAIT) < 0) {
                error = zmq_errno_();
                msg_close(frame);
                break;
            }
            more = msg_more(frame);
            frames_read++;
        }
        if (error || out_of_memory) {
            if (out_of_memory) { /* the rest of this message is read and dropped with it */
                zmq_msg rest;
                while (more) {
                    msg_init(&rest);
                    more = msg_recv(&rest, socket, ZMQ_DONTWAIT) >= 0 && msg_more(&rest);
                    msg_close(&rest);
                }
            }
            for (Py_ssize_t i = first; i < frames_read; i++) msg_close(&frames[i]);
            frames_read = first;
        } else {
            counts[messages_read++] = frames_read - first;
        }
    }
    Py_END_ALLOW_THREADS

    if (error == EAGAIN || error == EINTR) error = 0;
    PyObject *messages = out_of_memory ? NULL : PyList_New(messages_read);
    Py_ssize_t next = 0;
    for (Py_ssize_t m = 0; m < messages_read; m++) {
        PyObject *message = messages != NULL ? PyTuple_New(counts[m]) : NULL;
        for (Py_ssize_t i = 0; i < counts[m]; i++, next++) {
            if (message != NULL) {
                PyObject *bytes = PyBytes_FromStringAndSize(msg_data(&frames[next]), (Py_ssize_t)msg_size(&frames[next]));
                if (bytes == NULL) Py_CLEAR(message);
                else PyTuple_SET_ITEM(message, i, bytes);
            }
            msg_close(&frames[next]);
        }
        if (message == NULL) Py_CLEAR(messages);
        else if (messages == NULL) Py_DECREF(message);
        else PyList_SET_ITEM(messages, m, message);
    }
    PyMem_RawFree(frames);
    PyMem_RawFree(counts);
    if (messages == NULL) {
        if (!PyErr_Occurred()) PyErr_NoMemory();
        return NULL;
    }
    return Py_BuildValue("(Ni)", messages, error);
}

static PyMethodDef methods[] = {
    {"bind", bind, METH_O, "bind(path): use the libzmq loaded with the shared object at path"},
    {"recv_batch", (PyCFunction)(void (*)(void))recv_batch, METH_FASTCALL,
     "recv_batch(socket, limit) -> (messages, error): whole messages waiting on the socket, as tuples of bytes"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_intake", NULL, -1, methods};

PyMODINIT_FUNC PyInit__intake(void) { return PyModule_Create(&module); }
