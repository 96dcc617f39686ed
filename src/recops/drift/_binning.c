/*
 * recops.drift._binning: count a numeric column into reference-quantile bins in one pass.
 *
 * count(values, edges, shift, counts, sums) adds to counts[j] and sums[j] the number of
 * finite values in bin j and the sum of (value - shift) over them, where bin j holds the
 * values v with edges[j-1] <= v < edges[j] (bin 0 everything below edges[0], the last bin
 * everything from edges[-1] up), and returns (missing, sum of (value - shift)^2, min, max)
 * over the finite values; NaN and +-inf count as missing. It is the same definition as
 * counting.numeric_counts (a binary search of every edge in the sorted column), written
 * per value so the column need not be sorted.
 *
 * A value's bin is found by a lookup table, then a branch-free binary search: the range
 * [edges[0], edges[-1]] is cut into equal cells, cell(v) is monotone in v, so the edges
 * at or below v are all edges of earlier cells plus some of v's own cell. first[c] counts
 * the edges of cells before c; the search covers a window of 2^k edges from there, where
 * 2^k exceeds the most edges any one cell holds (the edge array is padded with +inf).
 * The interpreter lock is released while counting.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

/* Cells per edge, and the table's bounds (the table is int32: 4 KB to 256 KB). */
#define CELLS_PER_EDGE 64
#define MIN_CELLS 1024
#define MAX_CELLS 65536

/* The cell a value falls in, clamped to [0, top]: maxsd and minsd on x86 (compilers turn
 * the plain comparison against 0 into a branch, which random data mispredicts). */
static inline Py_ssize_t clamped_cell(double f, double top) {
#if defined(__SSE2__)
    __m128d v = _mm_min_sd(_mm_max_sd(_mm_set_sd(f), _mm_setzero_pd()), _mm_set_sd(top));
    return (Py_ssize_t)_mm_cvtsd_f64(v);
#else
    f = f > 0.0 ? f : 0.0;
    return (Py_ssize_t)(f < top ? f : top);
#endif
}

typedef struct {
    double low, high, scale;
    Py_ssize_t cells, edges;
    int32_t *first;
    double *padded;
    int steps;
} Table;

/* The table and the counting find cells with the same arithmetic, so cell_of is monotone
 * in x for both: an edge in an earlier cell than x is below x, one in a later cell above. */
static inline Py_ssize_t cell_of(const Table *t, double x) {
    return clamped_cell((x - t->low) * t->scale, (double)t->cells);
}

static void table_free(Table *t) {
    PyMem_RawFree(t->first);
    PyMem_RawFree(t->padded);
}

static int table_build(Table *t, const double *edges, Py_ssize_t n) {
    t->edges = n;
    t->low = n ? edges[0] : 0.0;
    t->high = n ? edges[n - 1] : 0.0;
    Py_ssize_t cells = CELLS_PER_EDGE * n;
    t->cells = cells < MIN_CELLS ? MIN_CELLS : (cells > MAX_CELLS ? MAX_CELLS : cells);
    t->scale = t->high > t->low ? (double)t->cells / (t->high - t->low) : 0.0;
    if (!isfinite(t->scale)) t->scale = 0.0; /* edges a few denormals apart: one cell, a longer search */
    t->first = PyMem_RawMalloc(sizeof(int32_t) * (size_t)(t->cells + 2));
    t->padded = NULL;
    if (t->first == NULL) return -1;
    Py_ssize_t j = 0, widest = 0;
    for (Py_ssize_t c = 0; c <= t->cells + 1; c++) {
        while (j < n && cell_of(t, edges[j]) < c) j++;
        t->first[c] = (int32_t)j;
        if (c && t->first[c] - t->first[c - 1] > widest) widest = t->first[c] - t->first[c - 1];
    }
    t->steps = 0;
    while (((Py_ssize_t)1 << t->steps) < widest + 1) t->steps++;
    Py_ssize_t window = (Py_ssize_t)1 << t->steps;
    t->padded = PyMem_RawMalloc(sizeof(double) * (size_t)(n + window + 1));
    if (t->padded == NULL) return -1;
    for (Py_ssize_t i = 0; i < n; i++) t->padded[i] = edges[i];
    for (Py_ssize_t i = n; i < n + window + 1; i++) t->padded[i] = INFINITY;
    return 0;
}

typedef struct {
    Py_ssize_t missing;
    double squares, minimum, maximum;
} Totals;

/* Values are counted in blocks, in two passes. The first finds each value's bin (a missing
 * value gets the spare slot after the last bin) and keeps the running totals, four lanes of
 * them so that no addition waits on the one before. The second adds each value to its bin's
 * count and sum in one of four copies of the bins, taking turns: a bin updated by
 * consecutive values is then updated in different memory, and no load of a bin waits on
 * a search still running for an earlier value (with few bins, such waits on a guessed
 * ordering cost more than the search). Values below edges[0] land in cell 0 and values
 * from edges[-1] up in the last cell, whose searches end at 0 and at the number of edges:
 * no branch depends on where a value falls, only on whether it is finite. */
#define FIND(K, L, STEPS)                                                                        \
    do {                                                                                         \
        double x = block[K];                                                                     \
        if (!isfinite(x)) {                                                                      \
            slots[K] = (int32_t)spare;                                                           \
            missing++;                                                                           \
            break;                                                                               \
        }                                                                                        \
        Py_ssize_t at = first[clamped_cell((x - low) * scale, top)]; /* cell_of, unrolled */      \
        for (int s = (STEPS) - 1; s >= 0; s--) {                                                 \
            Py_ssize_t step = (Py_ssize_t)1 << s;                                                \
            at += step & -(Py_ssize_t)(padded[at + step - 1] <= x);                              \
        }                                                                                        \
        slots[K] = (int32_t)(at + (padded[at] <= x));                                            \
        double d = x - shift;                                                                    \
        squares##L += d * d;                                                                     \
        minimum##L = x < minimum##L ? x : minimum##L;                                            \
        maximum##L = x > maximum##L ? x : maximum##L;                                            \
    } while (0)

/* STEPS is a constant in the specialized loops, so the search unrolls into compare-and-adds. */
#define COUNT_LOOP(STEPS)                                                                        \
    for (Py_ssize_t start = 0; start < n; start += BLOCK) {                                      \
        const double *block = values + start;                                                    \
        Py_ssize_t size = n - start < BLOCK ? n - start : BLOCK, k = 0;                          \
        for (; k + 4 <= size; k += 4) {                                                          \
            FIND(k, 0, STEPS);                                                                   \
            FIND(k + 1, 1, STEPS);                                                               \
            FIND(k + 2, 2, STEPS);                                                               \
            FIND(k + 3, 3, STEPS);                                                               \
        }                                                                                        \
        for (; k < size; k++) FIND(k, 0, STEPS);                                                 \
        for (k = 0; k < size; k++) {                                                             \
            Py_ssize_t at = (k & (LANES - 1)) * stride + slots[k];                               \
            lane_counts[at]++;                                                                   \
            lane_sums[at] += block[k] - shift;                                                   \
        }                                                                                        \
    }

#define LANES 4
#define BLOCK 512

/* Returns -1 when out of memory (the caller holds no lock: it reports after reacquiring). */
static int count_values(const Table *t, const double *values, Py_ssize_t n, double shift, int64_t *counts,
                        double *sums, Totals *totals) {
    Py_ssize_t bins = t->edges + 1, spare = bins, stride = bins + 1;
    int64_t *lane_counts = PyMem_RawCalloc((size_t)(LANES * stride), sizeof(int64_t));
    double *lane_sums = PyMem_RawCalloc((size_t)(LANES * stride), sizeof(double));
    if (lane_counts == NULL || lane_sums == NULL) {
        PyMem_RawFree(lane_counts);
        PyMem_RawFree(lane_sums);
        return -1;
    }
    int32_t slots[BLOCK];
    Py_ssize_t missing = 0;
    double squares0 = 0.0, squares1 = 0.0, squares2 = 0.0, squares3 = 0.0;
    double minimum0 = INFINITY, minimum1 = INFINITY, minimum2 = INFINITY, minimum3 = INFINITY;
    double maximum0 = -INFINITY, maximum1 = -INFINITY, maximum2 = -INFINITY, maximum3 = -INFINITY;
    const double *padded = t->padded;
    const int32_t *first = t->first;
    const double low = t->low, scale = t->scale, top = (double)t->cells;
    switch (t->steps) {
        case 0: COUNT_LOOP(0) break;
        case 1: COUNT_LOOP(1) break;
        case 2: COUNT_LOOP(2) break;
        case 3: COUNT_LOOP(3) break;
        default: {
            int steps = t->steps;
            COUNT_LOOP(steps)
        }
    }
    for (Py_ssize_t b = 0; b < bins; b++) {
        for (int lane = 0; lane < LANES; lane++) {
            counts[b] += lane_counts[lane * stride + b];
            sums[b] += lane_sums[lane * stride + b];
        }
    }
    PyMem_RawFree(lane_counts);
    PyMem_RawFree(lane_sums);
    totals->missing = missing;
    totals->squares = (squares0 + squares1) + (squares2 + squares3);
    totals->minimum = fmin(fmin(minimum0, minimum1), fmin(minimum2, minimum3));
    totals->maximum = fmax(fmax(maximum0, maximum1), fmax(maximum2, maximum3));
    return 0;
}

/* A one-dimensional, C-contiguous buffer of native 8-byte items of the given kind:
 * 'd' for float64, 'q' for int64 (numpy says 'l' for int64 where a long is 8 bytes). */
static int take(PyObject *object, Py_buffer *view, int writable, char kind, const char *name) {
    int flags = PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | (writable ? PyBUF_WRITABLE : 0);
    if (PyObject_GetBuffer(object, view, flags) < 0) return -1;
    const char *format = view->format == NULL ? "B" : view->format;
    if (*format == '@' || *format == '=') format++;
#if PY_LITTLE_ENDIAN
    if (*format == '<') format++;
#endif
    int ok = view->ndim == 1 && view->itemsize == 8 && format[0] != '\0' && format[1] == '\0' &&
             (kind == 'd' ? format[0] == 'd' : (format[0] == 'q' || format[0] == 'l'));
    if (!ok) {
        PyErr_Format(PyExc_TypeError, "%s must be a one-dimensional array of %s", name,
                     kind == 'd' ? "float64 (format 'd')" : "int64 (format 'q')");
        PyBuffer_Release(view);
        return -1;
    }
    return 0;
}

static PyObject *count(PyObject *Py_UNUSED(self), PyObject *args) {
    PyObject *values_obj, *edges_obj, *counts_obj, *sums_obj;
    double shift;
    if (!PyArg_ParseTuple(args, "OOdOO:count", &values_obj, &edges_obj, &shift, &counts_obj, &sums_obj))
        return NULL;
    Py_buffer values, edges, counts, sums;
    if (take(values_obj, &values, 0, 'd', "values") < 0) return NULL;
    if (take(edges_obj, &edges, 0, 'd', "edges") < 0) goto fail_values;
    if (take(counts_obj, &counts, 1, 'q', "counts") < 0) goto fail_edges;
    if (take(sums_obj, &sums, 1, 'd', "sums") < 0) goto fail_counts;
    Py_ssize_t n_edges = edges.shape[0];
    if (counts.shape[0] != n_edges + 1 || sums.shape[0] != n_edges + 1) {
        PyErr_SetString(PyExc_ValueError, "counts and sums must hold one more element than edges");
        goto fail_sums;
    }
    for (Py_ssize_t i = 1; i < n_edges; i++) {
        const double *e = edges.buf;
        if (!(e[i - 1] < e[i])) {
            PyErr_SetString(PyExc_ValueError, "edges must be finite and strictly increasing");
            goto fail_sums;
        }
    }
    if (n_edges && !(isfinite(((const double *)edges.buf)[0]) && isfinite(((const double *)edges.buf)[n_edges - 1]))) {
        PyErr_SetString(PyExc_ValueError, "edges must be finite and strictly increasing");
        goto fail_sums;
    }
    Table table;
    if (table_build(&table, edges.buf, n_edges) < 0) {
        table_free(&table);
        PyErr_NoMemory();
        goto fail_sums;
    }
    Totals totals;
    int status;
    Py_BEGIN_ALLOW_THREADS
    status = count_values(&table, values.buf, values.shape[0], shift, counts.buf, sums.buf, &totals);
    Py_END_ALLOW_THREADS
    table_free(&table);
    if (status < 0) {
        PyErr_NoMemory();
        goto fail_sums;
    }
    PyBuffer_Release(&sums);
    PyBuffer_Release(&counts);
    PyBuffer_Release(&edges);
    PyBuffer_Release(&values);
    return Py_BuildValue("nddd", totals.missing, totals.squares, totals.minimum, totals.maximum);
fail_sums:
    PyBuffer_Release(&sums);
fail_counts:
    PyBuffer_Release(&counts);
fail_edges:
    PyBuffer_Release(&edges);
fail_values:
    PyBuffer_Release(&values);
    return NULL;
}

static PyMethodDef methods[] = {
    {"count", count, METH_VARARGS,
     "count(values, edges, shift, counts, sums) -> (missing, sum of squares, min, max)\n\n"
     "Add each finite value's bin count and (value - shift) to counts and sums."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "_binning",
    .m_doc = "One-pass counting of numeric columns into bins.",
    .m_size = -1,
    .m_methods = methods,
};

PyMODINIT_FUNC PyInit__binning(void) { return PyModule_Create(&module); }
