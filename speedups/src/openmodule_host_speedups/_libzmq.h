/* How both extensions reach libzmq without linking it: through the libzmq pyzmq already loaded, so that they
 * always call the same libzmq as pyzmq. Included by _intake.c and _publish.c (each a module of its own). */
#ifndef OPENMODULE_HOST_SPEEDUPS_LIBZMQ_H
#define OPENMODULE_HOST_SPEEDUPS_LIBZMQ_H

#include <Python.h>
#include <dlfcn.h>

/* The handle of the shared object at `path` (str), which must be loaded already and be, or depend on, libzmq
 * (pyzmq's backend module); NULL with ImportError set otherwise. The handle is kept: pyzmq's backend stays loaded
 * as long as the process runs anyway. */
static void *libzmq_open(PyObject *path) {
    PyObject *encoded;
    if (!PyUnicode_FSConverter(path, &encoded)) return NULL;
    void *library = dlopen(PyBytes_AS_STRING(encoded), RTLD_LAZY | RTLD_NOLOAD);
    Py_DECREF(encoded);
    if (library == NULL) PyErr_Format(PyExc_ImportError, "pyzmq's backend is not loaded: %s", dlerror());
    return library;
}

/* libzmq's function `name` into *slot; -1 with ImportError set when it has none. */
static int libzmq_lookup(void *library, void **slot, const char *name) {
    *slot = dlsym(library, name);
    if (*slot == NULL) {
        PyErr_Format(PyExc_ImportError, "libzmq has no %s", name);
        return -1;
    }
    return 0;
}

#endif
