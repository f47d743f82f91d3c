/* openmodule_host_speedups._publish: a plugin's usual message to its wire body, and a two-frame message to a PUB
 * socket, in C. Both do what the host's Python does, step for step (openmodule_host/wire/body.py and
 * openmodule_host/wire/publisher.py), without its interpreter overhead.
 *
 * libzmq is not linked: bind() looks zmq_send up in the libzmq pyzmq already loaded, as _intake does.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <datetime.h>
#include <errno.h>
#include <stddef.h>

#include "_libzmq.h"

#define ZMQ_DONTWAIT 1
#define ZMQ_SNDMORE 2

static int (*zmq_send_)(void *, const void *, size_t, int);
static int (*zmq_errno_)(void);

/* set by setup(): type -> whether its model_dump() is its fields as they are (a dict that fills itself); orjson's
 * dumps and the `default` it is called with; the Python encoder for bodies that need escaping. */
static PyObject *plain_types, *orjson_dumps, *dumps_default, *escaping_dumps, *default_kwname;
static PyObject *s_baggage, *s_sentry_trace, *s_timestamp, *s_name;

/* bind(path): as _intake's (see _libzmq.h). */
static PyObject *bind(PyObject *self, PyObject *path) {
    void *library = libzmq_open(path);
    if (library == NULL) return NULL;
    if (libzmq_lookup(library, (void **)&zmq_send_, "zmq_send")
        || libzmq_lookup(library, (void **)&zmq_errno_, "zmq_errno")) {
        zmq_send_ = NULL;
        return NULL;
    }
    Py_RETURN_NONE;
}

/* setup(plain_types, orjson_dumps, default, escaping_dumps) */
static PyObject *setup(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 4) {
        PyErr_SetString(PyExc_TypeError, "setup(plain_types, orjson_dumps, default, escaping_dumps) takes 4 arguments");
        return NULL;
    }
    if (!PyDict_Check(args[0])) {
        PyErr_SetString(PyExc_TypeError, "setup: plain_types must be a dict");
        return NULL;
    }
    Py_XSETREF(plain_types, Py_NewRef(args[0]));
    Py_XSETREF(orjson_dumps, Py_NewRef(args[1]));
    Py_XSETREF(dumps_default, Py_NewRef(args[2]));
    Py_XSETREF(escaping_dumps, Py_NewRef(args[3]));
    Py_RETURN_NONE;
}

/* Days from 1970-01-01 to the proleptic Gregorian date y-m-d (Howard Hinnant's days_from_civil). */
static long long days_from_civil(long long y, unsigned m, unsigned d) {
    y -= m <= 2;
    const long long era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);
    const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (long long)doe - 719468;
}

/* body(message, name) -> bytes | None
 *
 * The wire body of `message` sent by `name` when it is the usual message: of a type plain_types says is dumped as
 * its fields, without trace headers, its timestamp a naive datetime. None for any other: the caller's Python takes
 * it. The steps and the key order are the Python way's: a copy of the fields without `baggage` and `sentry_trace`,
 * the timestamp as (timestamp - 1970-01-01).total_seconds() (whole microseconds over 10**6, both exact in a
 * double, so the same correctly rounded float), `name` set, orjson with the default, and the escaping encoder
 * when the result is not plain ASCII without DEL.
 */
static PyObject *body(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "body(message, name) takes 2 arguments");
        return NULL;
    }
    if (plain_types == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "body: setup() was not called");
        return NULL;
    }
    PyObject *message = args[0], *name = args[1];
    PyObject *plain = PyObject_GetItem(plain_types, (PyObject *)Py_TYPE(message));
    if (plain == NULL) return NULL;
    int is_plain = plain == Py_True;
    Py_DECREF(plain);
    if (!is_plain) Py_RETURN_NONE;
    PyObject *fields = PyObject_GenericGetDict(message, NULL);
    if (fields == NULL) return NULL;
    PyObject *result = NULL, *data = NULL;
    PyObject *baggage = PyDict_GetItemWithError(fields, s_baggage);
    PyObject *trace = baggage == NULL ? NULL : PyDict_GetItemWithError(fields, s_sentry_trace);
    if (trace != Py_None || baggage != Py_None) {
        if (!PyErr_Occurred()) result = Py_NewRef(Py_None);
        goto done;
    }
    PyObject *timestamp = PyDict_GetItemWithError(fields, s_timestamp);
    if (timestamp == NULL || !PyDateTime_CheckExact(timestamp) || PyDateTime_DATE_GET_TZINFO(timestamp) != Py_None) {
        if (!PyErr_Occurred()) result = Py_NewRef(Py_None);
        goto done;
    }
    long long days = days_from_civil(PyDateTime_GET_YEAR(timestamp), (unsigned)PyDateTime_GET_MONTH(timestamp),
                                     (unsigned)PyDateTime_GET_DAY(timestamp));
    long long seconds = days * 86400 + PyDateTime_DATE_GET_HOUR(timestamp) * 3600LL
                        + PyDateTime_DATE_GET_MINUTE(timestamp) * 60LL + PyDateTime_DATE_GET_SECOND(timestamp);
    long long microseconds = seconds * 1000000LL + PyDateTime_DATE_GET_MICROSECOND(timestamp);
    PyObject *number = PyFloat_FromDouble((double)microseconds / 1e6);
    if (number == NULL) goto done;
    data = PyDict_Copy(fields);
    if (data == NULL || PyDict_DelItem(data, s_baggage) < 0 || PyDict_DelItem(data, s_sentry_trace) < 0
        || PyDict_SetItem(data, s_timestamp, number) < 0 || PyDict_SetItem(data, s_name, name) < 0) {
        Py_DECREF(number);
        goto done;
    }
    Py_DECREF(number);
    PyObject *call[2] = {data, dumps_default};
    result = PyObject_Vectorcall(orjson_dumps, call, 1, default_kwname);
    if (result == NULL) goto done;
    if (!PyBytes_Check(result)) {
        Py_CLEAR(result);
        PyErr_SetString(PyExc_TypeError, "body: orjson.dumps returned no bytes");
        goto done;
    }
    const unsigned char *bytes = (const unsigned char *)PyBytes_AS_STRING(result);
    Py_ssize_t size = PyBytes_GET_SIZE(result);
    for (Py_ssize_t i = 0; i < size; i++) {
        if (bytes[i] >= 0x7f) {
            Py_SETREF(result, PyObject_CallOneArg(escaping_dumps, data));
            break;
        }
    }
done:
    Py_XDECREF(data);
    Py_DECREF(fields);
    return result;
}

/* send(socket, topic, body) -> errno
 *
 * socket: the address of a libzmq PUB socket (pyzmq's Socket.underlying), used under the caller's lock. Sends the
 * two frames without waiting, with the GIL held (a send that cannot wait takes well under a microsecond). 0 when
 * sent; the errno when the first frame was refused (EAGAIN: the queue is full, nothing was sent) or the second
 * failed (libzmq checks the high-water mark per message: once the first frame is in, the second fits).
 */
static PyObject *send(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "send(socket, topic, body) takes 3 arguments");
        return NULL;
    }
    void *socket = PyLong_AsVoidPtr(args[0]);
    if (socket == NULL) {
        if (!PyErr_Occurred()) PyErr_SetString(PyExc_ValueError, "send: no socket");
        return NULL;
    }
    if (!PyBytes_Check(args[1]) || !PyBytes_Check(args[2])) {
        PyErr_SetString(PyExc_TypeError, "send: topic and body must be bytes");
        return NULL;
    }
    if (zmq_send_ == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "send: libzmq is not bound");
        return NULL;
    }
    if (zmq_send_(socket, PyBytes_AS_STRING(args[1]), (size_t)PyBytes_GET_SIZE(args[1]), ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0
        || zmq_send_(socket, PyBytes_AS_STRING(args[2]), (size_t)PyBytes_GET_SIZE(args[2]), ZMQ_DONTWAIT) < 0)
        return PyLong_FromLong(zmq_errno_());
    return PyLong_FromLong(0);
}

static PyMethodDef methods[] = {
    {"bind", bind, METH_O, "bind(path): use the libzmq loaded with the shared object at path"},
    {"setup", (PyCFunction)(void (*)(void))setup, METH_FASTCALL,
     "setup(plain_types, orjson_dumps, default, escaping_dumps): what body() encodes with"},
    {"body", (PyCFunction)(void (*)(void))body, METH_FASTCALL,
     "body(message, name) -> bytes | None: the usual message's wire body, None for any other"},
    {"send", (PyCFunction)(void (*)(void))send, METH_FASTCALL,
     "send(socket, topic, body) -> errno: both frames without waiting; 0 when sent"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_publish", NULL, -1, methods};

PyMODINIT_FUNC PyInit__publish(void) {
    PyDateTime_IMPORT;
    if (PyDateTimeAPI == NULL) return NULL;
    s_baggage = PyUnicode_InternFromString("baggage");
    s_sentry_trace = PyUnicode_InternFromString("sentry_trace");
    s_timestamp = PyUnicode_InternFromString("timestamp");
    s_name = PyUnicode_InternFromString("name");
    /* interned: orjson tells its keyword arguments apart by identity */
    PyObject *s_default = PyUnicode_InternFromString("default");
    default_kwname = s_default == NULL ? NULL : PyTuple_Pack(1, s_default);
    Py_XDECREF(s_default);
    if (s_baggage == NULL || s_sentry_trace == NULL || s_timestamp == NULL || s_name == NULL || default_kwname == NULL)
        return NULL;
    return PyModule_Create(&module);
}
