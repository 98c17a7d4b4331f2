/* The native fast path of near-duplicate clustering (agents/domain/cluster.py).
 *
 * What the clustering stage does for every post, which cost ~30 us per post in Python
 * and rensa glue (shingle strings, MinHash objects, one Rust call per candidate estimate) and a
 * few cache misses each here:
 *
 * - shingle_hashes(text): a 64-bit hash of every SHINGLE_CHARS-code-point shingle of the text,
 *   in order (FNV-1a over the code points, then the murmur3 finalizer so that every bit of the
 *   hash depends on every code point);
 * - signature(text, num_perm, seed): the MinHash of those hashes, num_perm 32-bit minima of
 *   the multiply-shift permutations (a_i * h + b_i) >> 32 (a_i odd, a_i and b_i from splitmix64
 *   seeded with `seed`), as bytes in native order;
 * - fingerprint(text, num_perm, seed): the signature and the distinct shingle *keys* (the top
 *   32 bits of each hash), what the index keeps for the exact confirmation of candidates;
 * - BandIndex: the LSH band tables of one bucket, with each entry's signature and shingle keys,
 *   so that one query finds the candidates, estimates their Jaccard similarity and confirms the
 *   close ones exactly (Jaccard or containment of the shingle sets), without a Python object
 *   per fingerprint or per candidate;
 * - WordFilter: the words of a text without some (fillers, function words), what the
 *   fingerprint is computed over;
 * - WindowIndex: all buckets' BandIndexes and the rest of what the window keeps per fingerprint
 *   (id, event time, bucket), with expiry by event time: one C call per add, expiry or query.
 *
 * agents/domain/fingerprint.py holds the pure-Python fallback that computes the same values
 * bit for bit (tests/unit/test_fingerprint.py checks it); it is used when this module was not
 * built. Nothing computed here is stored: the index is rebuilt from the table's texts on
 * restart, so the hash function may change between releases.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#define SHINGLE_CHARS 4
#define FNV_OFFSET 0xcbf29ce484222325ULL
#define FNV_PRIME 0x100000001b3ULL
#define MAX_PERM 1024
#define STACK_SHINGLES 2048 /* FINGERPRINT_CHARS (1000) shingles fit without a malloc */

static inline uint64_t fmix64(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

static inline uint64_t splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* The hash of text[start:end) by code points: FNV-1a, then the murmur3 finalizer so that every
 * bit depends on every code point. A shingle's hash, and a WordFilter word's. */
static inline uint64_t code_point_hash(int kind, const void *data, Py_ssize_t start, Py_ssize_t end)
{
    uint64_t h = FNV_OFFSET;
    for (Py_ssize_t i = start; i < end; i++)
        h = (h ^ (uint64_t)PyUnicode_READ(kind, data, i)) * FNV_PRIME;
    return fmix64(h);
}

/* The shingle hashes of `text` into `buffer` (`capacity` long) or, if more, into a malloc'd
 * array returned in *heap (to free). Returns the count, or -1 with an exception set. A text of
 * at most SHINGLE_CHARS code points is one shingle (as fingerprint.python_shingle_hashes), "" has none. */
static Py_ssize_t hash_shingles(PyObject *text, uint64_t *buffer, Py_ssize_t capacity, uint64_t **heap,
                                uint64_t **out)
{
    *heap = NULL;
    *out = buffer;
    if (!PyUnicode_Check(text)) {
        PyErr_SetString(PyExc_TypeError, "text must be a str");
        return -1;
    }
    Py_ssize_t length = PyUnicode_GET_LENGTH(text);
    if (length == 0)
        return 0;
    Py_ssize_t width = length < SHINGLE_CHARS ? length : SHINGLE_CHARS;
    Py_ssize_t count = length - width + 1;
    if (count > capacity) {
        *heap = PyMem_Malloc(count * sizeof(uint64_t));
        if (*heap == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        *out = *heap;
    }
    int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);
    uint64_t *hashes = *out;
    for (Py_ssize_t i = 0; i < count; i++)
        hashes[i] = code_point_hash(kind, data, i, i + width);
    return count;
}

/* The permutations of the last (num_perm, seed) asked for: computed once, not per post. */
static uint64_t perm_a[MAX_PERM], perm_b[MAX_PERM];
static int perm_count = -1;
static uint64_t perm_seed;

static void set_permutations(int num_perm, uint64_t seed)
{
    if (num_perm == perm_count && seed == perm_seed)
        return;
    uint64_t state = seed;
    for (int i = 0; i < num_perm; i++) {
        perm_a[i] = splitmix64(&state) | 1;
        perm_b[i] = splitmix64(&state);
    }
    perm_count = num_perm;
    perm_seed = seed;
}

static PyObject *py_shingle_hashes(PyObject *module, PyObject *text)
{
    uint64_t buffer[STACK_SHINGLES], *heap, *hashes;
    Py_ssize_t count = hash_shingles(text, buffer, STACK_SHINGLES, &heap, &hashes);
    if (count < 0)
        return NULL;
    PyObject *list = PyList_New(count);
    for (Py_ssize_t i = 0; list != NULL && i < count; i++) {
        PyObject *value = PyLong_FromUnsignedLongLong(hashes[i]);
        if (value == NULL)
            Py_CLEAR(list);
        else
            PyList_SET_ITEM(list, i, value);
    }
    PyMem_Free(heap);
    return list;
}

/* The MinHash of `count` shingle hashes as bytes of num_perm 32-bit values. */
static PyObject *minhash(const uint64_t *hashes, Py_ssize_t count, int num_perm, uint64_t seed)
{
    set_permutations(num_perm, seed);
    /* min((a*h + b) mod 2^64) >> 32 == min(((a*h + b) mod 2^64) >> 32): shift once at the end.
     * One permutation at a time over all hashes: a tight loop with a and b in registers. */
    uint64_t minima[MAX_PERM];
    for (int p = 0; p < num_perm; p++) {
        uint64_t a = perm_a[p], b = perm_b[p], low = UINT64_MAX, other = UINT64_MAX;
        Py_ssize_t i = 0;
        for (; i + 1 < count; i += 2) { /* two minima: half the dependency chain */
            uint64_t x = a * hashes[i] + b, y = a * hashes[i + 1] + b;
            low = x < low ? x : low;
            other = y < other ? y : other;
        }
        if (i < count) {
            uint64_t x = a * hashes[i] + b;
            low = x < low ? x : low;
        }
        minima[p] = low < other ? low : other;
    }
    PyObject *result = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)num_perm * sizeof(uint32_t));
    if (result == NULL)
        return NULL;
    uint32_t *out = (uint32_t *)PyBytes_AS_STRING(result);
    for (int p = 0; p < num_perm; p++)
        out[p] = (uint32_t)(minima[p] >> 32);
    return result;
}

/* The arguments (text, num_perm, seed) of signature() and fingerprint(), and the text's shingle
 * hashes (into `buffer`, STACK_SHINGLES long, or a malloc'd array returned in *heap to free).
 * Returns the count of hashes, or -1 with an exception set. */
static Py_ssize_t parse_and_hash(PyObject *args, int *num_perm, unsigned long long *seed, uint64_t *buffer,
                                 uint64_t **heap, uint64_t **hashes)
{
    PyObject *text;
    *heap = NULL;
    if (!PyArg_ParseTuple(args, "OiK", &text, num_perm, seed))
        return -1;
    if (*num_perm < 1 || *num_perm > MAX_PERM) {
        PyErr_SetString(PyExc_ValueError, "num_perm out of range");
        return -1;
    }
    return hash_shingles(text, buffer, STACK_SHINGLES, heap, hashes);
}

static PyObject *py_signature(PyObject *module, PyObject *args)
{
    int num_perm;
    unsigned long long seed;
    uint64_t buffer[STACK_SHINGLES], *heap, *hashes;
    Py_ssize_t count = parse_and_hash(args, &num_perm, &seed, buffer, &heap, &hashes);
    if (count < 0)
        return NULL;
    PyObject *result = minhash(hashes, count, num_perm, seed);
    PyMem_Free(heap);
    return result;
}

/* A set of 64-bit hashes, open addressing; 0 marks an empty cell, so the hash 0 is kept apart. */
typedef struct {
    uint64_t *cells;
    size_t mask;
    int has_zero;
} HashSet;

/* Adds `h`; returns 1 if it was not there. */
static inline int hashset_add(HashSet *set, uint64_t h)
{
    if (h == 0) {
        int added = !set->has_zero;
        set->has_zero = 1;
        return added;
    }
    size_t i = (size_t)h & set->mask;
    while (set->cells[i] != 0) {
        if (set->cells[i] == h)
            return 0;
        i = (i + 1) & set->mask;
    }
    set->cells[i] = h;
    return 1;
}

static inline int hashset_has(const HashSet *set, uint64_t h)
{
    if (h == 0)
        return set->has_zero;
    size_t i = (size_t)h & set->mask;
    while (set->cells[i] != 0) {
        if (set->cells[i] == h)
            return 1;
        i = (i + 1) & set->mask;
    }
    return 0;
}

/* The smallest power of two at least twice `count` (a set at most half full). */
static size_t set_capacity(Py_ssize_t count)
{
    size_t capacity = 16;
    while (capacity < 2 * (size_t)count)
        capacity *= 2;
    return capacity;
}

/* A shingle's *key*: the top 32 bits of its hash. The exact confirmation compares keys, which
 * halves the memory each indexed fingerprint keeps; two different shingles of a compared pair
 * share a key with a probability of about 1 in a million per pair (60 x 60 / 2^32), and then
 * the overlap is off by one shingle. */
static inline uint32_t shingle_key(uint64_t hash)
{
    return (uint32_t)(hash >> 32);
}

/* fingerprint(text, num_perm, seed) -> (signature, keys): the signature, and the distinct
 * shingle keys in order of first occurrence as bytes of 32-bit values. */
static PyObject *py_fingerprint(PyObject *module, PyObject *args)
{
    int num_perm;
    unsigned long long seed;
    uint64_t buffer[STACK_SHINGLES], *heap, *hashes;
    Py_ssize_t count = parse_and_hash(args, &num_perm, &seed, buffer, &heap, &hashes);
    if (count < 0)
        return NULL;
    PyObject *signature = minhash(hashes, count, num_perm, seed), *keys = NULL, *result = NULL;
    size_t capacity = set_capacity(count);
    uint64_t stack_cells[2 * STACK_SHINGLES], *cells = stack_cells, *heap_cells = NULL;
    if (capacity > sizeof(stack_cells) / sizeof(uint64_t))
        cells = heap_cells = PyMem_Malloc(capacity * sizeof(uint64_t));
    if (signature == NULL || cells == NULL)
        goto done;
    memset(cells, 0, capacity * sizeof(uint64_t));
    HashSet seen = {cells, capacity - 1, 0};
    keys = PyBytes_FromStringAndSize(NULL, count * sizeof(uint32_t));
    if (keys == NULL)
        goto done;
    uint32_t *out = (uint32_t *)PyBytes_AS_STRING(keys);
    Py_ssize_t distinct = 0;
    for (Py_ssize_t i = 0; i < count; i++) {
        uint64_t key = shingle_key(hashes[i]);
        if (hashset_add(&seen, key))
            out[distinct++] = (uint32_t)key;
    }
    if (_PyBytes_Resize(&keys, distinct * sizeof(uint32_t)) < 0)
        goto done;
    result = PyTuple_Pack(2, signature, keys);
done:
    if (cells == NULL)
        PyErr_NoMemory();
    Py_XDECREF(signature);
    Py_XDECREF(keys);
    PyMem_Free(heap_cells);
    PyMem_Free(heap);
    return result;
}

/* ---- WordFilter -----------------------------------------------------------------------------
 *
 * The words a fingerprint text keeps (agents.domain.cluster.fingerprint_text): the text's
 * whitespace-separated words without the filter's, joined by single spaces, cut at `limit` code
 * points. In Python (split, a set lookup per word, join) it was ~2 us per post, ~5% of the
 * clustering stage; here no word becomes a Python object. Whitespace is str.split()'s
 * (Py_UNICODE_ISSPACE). A word's hash only selects the cell; a hit is confirmed on the code
 * points, so the result is exactly PythonWordFilter's.
 */

typedef struct {
    uint64_t hash; /* 0: empty (word_hash never returns 0) */
    PyObject *word;
} WordCell;

typedef struct {
    PyObject_HEAD
    WordCell *cells;
    size_t mask;
    Py_ssize_t count;
} WordFilter;

static inline uint64_t word_hash(int kind, const void *data, Py_ssize_t start, Py_ssize_t end)
{
    uint64_t h = code_point_hash(kind, data, start, end);
    return h ? h : 1;
}

static int word_equal(PyObject *word, int kind, const void *data, Py_ssize_t start, Py_ssize_t end)
{
    if (PyUnicode_GET_LENGTH(word) != end - start)
        return 0;
    int word_kind = PyUnicode_KIND(word);
    const void *word_data = PyUnicode_DATA(word);
    for (Py_ssize_t i = start; i < end; i++)
        if (PyUnicode_READ(word_kind, word_data, i - start) != PyUnicode_READ(kind, data, i))
            return 0;
    return 1;
}

/* The cell of the word text[start:end): its own if the filter has it, else an empty one. */
static WordCell *word_cell(const WordFilter *self, uint64_t hash, int kind, const void *data, Py_ssize_t start,
                           Py_ssize_t end)
{
    for (size_t i = hash & self->mask;; i = (i + 1) & self->mask) {
        WordCell *cell = &self->cells[i];
        if (cell->hash == 0 || (cell->hash == hash && word_equal(cell->word, kind, data, start, end)))
            return cell;
    }
}

/* Drops the words and their table (dealloc, or __init__ called again). */
static void word_filter_clear(WordFilter *self)
{
    if (self->cells != NULL)
        for (size_t i = 0; i <= self->mask; i++)
            Py_XDECREF(self->cells[i].word);
    PyMem_Free(self->cells);
    self->cells = NULL;
    self->count = 0;
}

static int WordFilter_init(WordFilter *self, PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"words", NULL};
    PyObject *iterable;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O:WordFilter", keywords, &iterable))
        return -1;
    PyObject *words = PySequence_List(iterable);
    if (words == NULL)
        return -1;
    Py_ssize_t count = PyList_GET_SIZE(words);
    word_filter_clear(self);
    size_t capacity = set_capacity(count);
    WordCell *cells = PyMem_Calloc(capacity, sizeof(WordCell));
    if (cells == NULL) {
        Py_DECREF(words);
        PyErr_NoMemory();
        return -1;
    }
    self->cells = cells;
    self->mask = capacity - 1;
    for (Py_ssize_t w = 0; w < count; w++) {
        PyObject *word = PyList_GET_ITEM(words, w);
        if (!PyUnicode_Check(word)) {
            PyErr_SetString(PyExc_TypeError, "WordFilter words must be str");
            Py_DECREF(words);
            return -1;
        }
        int kind = PyUnicode_KIND(word);
        const void *data = PyUnicode_DATA(word);
        Py_ssize_t length = PyUnicode_GET_LENGTH(word);
        uint64_t hash = word_hash(kind, data, 0, length);
        WordCell *cell = word_cell(self, hash, kind, data, 0, length);
        if (cell->hash == 0) {
            cell->hash = hash;
            cell->word = Py_NewRef(word);
            self->count++;
        }
    }
    Py_DECREF(words);
    return 0;
}

static void WordFilter_dealloc(WordFilter *self)
{
    word_filter_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* kept(text, limit) -> str: " ".join(w for w in text.split() if w not in words)[:limit]. */
static PyObject *WordFilter_kept(WordFilter *self, PyObject *args)
{
    PyObject *text;
    Py_ssize_t limit;
    if (!PyArg_ParseTuple(args, "Un:kept", &text, &limit))
        return NULL;
    if (limit < 0) {
        PyErr_SetString(PyExc_ValueError, "limit must not be negative");
        return NULL;
    }
    int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);
    Py_ssize_t length = PyUnicode_GET_LENGTH(text);
    /* Spans of kept words, as far as they reach into the first `limit` code points of the result. */
    Py_ssize_t stack_spans[2 * 256], *spans = stack_spans, *heap = NULL, capacity = 256, kept = 0, size = 0;
    Py_UCS4 maxchar = 0;
    for (Py_ssize_t i = 0; i < length && size < limit;) {
        while (i < length && Py_UNICODE_ISSPACE(PyUnicode_READ(kind, data, i)))
            i++;
        Py_ssize_t start = i;
        while (i < length && !Py_UNICODE_ISSPACE(PyUnicode_READ(kind, data, i)))
            i++;
        if (i == start)
            break;
        if (self->count && word_cell(self, word_hash(kind, data, start, i), kind, data, start, i)->hash != 0)
            continue;
        if (kept == capacity) {
            Py_ssize_t *grown = PyMem_Malloc(4 * capacity * sizeof(Py_ssize_t));
            if (grown == NULL) {
                PyMem_Free(heap);
                return PyErr_NoMemory();
            }
            memcpy(grown, spans, 2 * kept * sizeof(Py_ssize_t));
            PyMem_Free(heap);
            spans = heap = grown;
            capacity *= 2;
        }
        if (kept)
            size++; /* the space before it */
        Py_ssize_t end = size + (i - start) > limit ? start + (limit - size) : i;
        spans[2 * kept] = start;
        spans[2 * kept + 1] = end;
        kept++;
        size += end - start;
        for (Py_ssize_t j = start; j < end; j++) {
            Py_UCS4 ch = PyUnicode_READ(kind, data, j);
            if (ch > maxchar)
                maxchar = ch;
        }
    }
    PyObject *result = PyUnicode_New(size, maxchar);
    if (result != NULL) {
        int out_kind = PyUnicode_KIND(result);
        void *out = PyUnicode_DATA(result);
        Py_ssize_t at = 0;
        for (Py_ssize_t k = 0; k < kept && at < size; k++) {
            if (k)
                PyUnicode_WRITE(out_kind, out, at++, ' ');
            for (Py_ssize_t j = spans[2 * k]; j < spans[2 * k + 1] && at < size; j++)
                PyUnicode_WRITE(out_kind, out, at++, PyUnicode_READ(kind, data, j));
        }
    }
    PyMem_Free(heap);
    return result;
}

static Py_ssize_t WordFilter_len(WordFilter *self)
{
    return self->count;
}

static PyMethodDef WordFilter_methods[] = {
    {"kept", (PyCFunction)WordFilter_kept, METH_VARARGS,
     "kept(text, limit) -> str: the text's words not in the filter, joined by spaces, at most limit code points."},
    {NULL},
};

static PySequenceMethods WordFilter_as_sequence = {.sq_length = (lenfunc)WordFilter_len};

static PyTypeObject WordFilterType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "agents.domain._fingerprint.WordFilter",
    .tp_doc = PyDoc_STR("WordFilter(words): the words that kept(text, limit) drops from a text."),
    .tp_basicsize = sizeof(WordFilter),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)WordFilter_init,
    .tp_dealloc = (destructor)WordFilter_dealloc,
    .tp_methods = WordFilter_methods,
    .tp_as_sequence = &WordFilter_as_sequence,
};

/* ---- BandIndex ------------------------------------------------------------------------------
 *
 * The LSH of one bucket. Entries are appended in slot order (slots only grow), so a slot's
 * entry is found by bisection. A hash table maps the key of a band's values to the entries
 * with them (a posting list). A key collision between different band values is harmless: an
 * entry is a candidate only if its values of that band equal the query's. Forgotten entries
 * stay in their posting lists, skipped, until compact() drops them (the caller decides when:
 * LshIndex._forget).
 *
 * In a big window every access here is a cache (and TLB) miss, and MinHash makes some band
 * values common to much of a bucket (when a shingle every post of the category has wins three
 * permutations), so a query may meet a few hundred entries. Hence: the query's cells are
 * prefetched together, postings are contiguous arrays (not chains through the entries, which
 * made every step wait for the one before), and each entry is one record (slot, liveness,
 * signature: 3 cache lines with 45 values) prefetched a few postings ahead of its use, so that
 * the misses overlap.
 */

typedef struct {
    uint32_t tag;   /* the key's top 32 bits */
    uint32_t count; /* postings; 0: a free cell */
    union {
        int32_t single;  /* count == 1: the entry itself */
        int32_t *items;  /* count >= 2: capacity is count rounded up to a power of two */
    } postings;
} Cell;

typedef struct {
    int64_t slot;
    uint32_t *keys;     /* distinct shingle keys (malloc'd), for the exact confirmation */
    uint32_t key_count;
    uint32_t alive;
    uint32_t values[];  /* the signature */
} Entry;

typedef struct {
    PyObject_HEAD
    int num_perm, bands, rows;
    size_t entry_size;
    Py_ssize_t count, capacity, live;
    int64_t *slots; /* the entries' slots, apart: forget() bisects them */
    char *entries;  /* count records of entry_size bytes */
    Cell *cells;
    size_t cell_mask, cell_count;
} BandIndex;

static inline Entry *entry_at(const BandIndex *self, Py_ssize_t e)
{
    return (Entry *)(self->entries + (size_t)e * self->entry_size);
}

static inline void prefetch_entry(const BandIndex *self, int32_t e)
{
    const char *record = (const char *)entry_at(self, e);
    for (size_t line = 0; line < self->entry_size; line += 64)
        __builtin_prefetch(record + line);
}

static inline const int32_t *postings_of(const Cell *cell)
{
    return cell->count == 1 ? &cell->postings.single : cell->postings.items;
}

static inline uint64_t band_key(const uint32_t *digest, int band, int rows)
{
    uint64_t h = FNV_OFFSET ^ (uint64_t)band;
    const uint32_t *values = digest + (size_t)band * rows;
    for (int r = 0; r < rows; r++)
        h = (h ^ values[r]) * FNV_PRIME;
    return fmix64(h);
}

static inline int band_equal(const uint32_t *x, const uint32_t *y, int band, int rows)
{
    size_t first = (size_t)band * rows;
    return memcmp(x + first, y + first, rows * sizeof(uint32_t)) == 0;
}

/* The cell of `key`: the one holding it, or the free cell where it goes. */
static inline Cell *find_cell(const BandIndex *self, uint64_t key)
{
    uint32_t tag = (uint32_t)(key >> 32);
    size_t i = (size_t)key & self->cell_mask;
    while (self->cells[i].count != 0 && self->cells[i].tag != tag)
        i = (i + 1) & self->cell_mask;
    return &self->cells[i];
}

static void free_postings(BandIndex *self)
{
    for (size_t i = 0; self->cells != NULL && i <= self->cell_mask; i++) {
        if (self->cells[i].count >= 2)
            PyMem_Free(self->cells[i].postings.items);
    }
}

/* Empty hash table of at least `keys` / 0.7 cells. The current one is cleared and kept if it
 * is big enough: a bucket compacts again and again as the window slides, and fresh memory
 * costs a page fault per page on first touch (~10 us each on the benchmark's VM), more than
 * the rebuild itself. */
static int reset_cells(BandIndex *self, size_t keys)
{
    size_t capacity = 16;
    while (capacity * 7 < keys * 10)
        capacity *= 2;
    free_postings(self);
    if (self->cells == NULL || self->cell_mask + 1 < capacity) {
        Cell *cells = PyMem_Malloc(capacity * sizeof(Cell));
        if (cells == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        PyMem_Free(self->cells);
        self->cells = cells;
        self->cell_mask = capacity - 1;
    }
    memset(self->cells, 0, (self->cell_mask + 1) * sizeof(Cell));
    self->cell_count = 0;
    return 0;
}

/* Adds entry `e` to the posting lists of its bands. The table has room (see ensure_cells). */
static int link_entry(BandIndex *self, Py_ssize_t e)
{
    const uint32_t *digest = entry_at(self, e)->values;
    for (int b = 0; b < self->bands; b++) {
        uint64_t key = band_key(digest, b, self->rows);
        Cell *cell = find_cell(self, key);
        uint32_t count = cell->count;
        if (count == 0) {
            cell->tag = (uint32_t)(key >> 32);
            cell->postings.single = (int32_t)e;
            self->cell_count++;
        } else {
            if (count == 1 || (count & (count - 1)) == 0) { /* full: twice the capacity */
                int32_t *items = PyMem_Malloc(2 * count * sizeof(int32_t));
                if (items == NULL) {
                    PyErr_NoMemory();
                    return -1;
                }
                memcpy(items, postings_of(cell), count * sizeof(int32_t));
                if (count >= 2)
                    PyMem_Free(cell->postings.items);
                cell->postings.items = items;
            }
            cell->postings.items[count] = (int32_t)e;
        }
        cell->count = count + 1;
    }
    return 0;
}

/* Room for one more entry's band keys: when needed, a table twice as big with every entry
 * linked again (a cell keeps only a 32-bit tag of its key, not enough to find its new home;
 * relinking costs one insert per entry per doubling). */
static int ensure_cells(BandIndex *self)
{
    if ((self->cell_count + self->bands) * 10 <= (self->cell_mask + 1) * 7)
        return 0;
    size_t capacity = 2 * (self->cell_mask + 1);
    Cell *cells = PyMem_Malloc(capacity * sizeof(Cell));
    if (cells == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    free_postings(self);
    PyMem_Free(self->cells);
    memset(cells, 0, capacity * sizeof(Cell));
    self->cells = cells;
    self->cell_mask = capacity - 1;
    self->cell_count = 0;
    for (Py_ssize_t e = 0; e < self->count; e++) {
        if (link_entry(self, e) < 0)
            return -1;
    }
    return 0;
}

static int ensure_entries(BandIndex *self)
{
    if (self->count < self->capacity)
        return 0;
    Py_ssize_t capacity = self->capacity ? 2 * self->capacity : 64;
    if (capacity > INT32_MAX) {
        PyErr_SetString(PyExc_OverflowError, "too many entries in one bucket");
        return -1;
    }
    int64_t *slots = PyMem_Realloc(self->slots, capacity * sizeof(int64_t));
    if (slots == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    self->slots = slots;
    char *entries = PyMem_Realloc(self->entries, capacity * self->entry_size);
    if (entries == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    self->entries = entries;
    self->capacity = capacity;
    return 0;
}

static int BandIndex_init(BandIndex *self, PyObject *args, PyObject *kwargs)
{
    static char *names[] = {"num_perm", "bands", NULL};
    int num_perm, bands;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "ii", names, &num_perm, &bands))
        return -1;
    if (num_perm < 1 || num_perm > MAX_PERM || bands < 1 || num_perm % bands != 0) {
        PyErr_SetString(PyExc_ValueError, "num_perm must be a multiple of bands");
        return -1;
    }
    if (self->cells != NULL) {
        PyErr_SetString(PyExc_RuntimeError, "BandIndex already initialized");
        return -1;
    }
    self->num_perm = num_perm;
    self->bands = bands;
    self->rows = num_perm / bands;
    self->entry_size = (sizeof(Entry) + num_perm * sizeof(uint32_t) + 7) & ~(size_t)7;
    return reset_cells(self, 0);
}

static void BandIndex_dealloc(BandIndex *self)
{
    free_postings(self);
    for (Py_ssize_t e = 0; e < self->count; e++)
        PyMem_Free(entry_at(self, e)->keys); /* NULL once forgotten */
    PyMem_Free(self->slots);
    PyMem_Free(self->entries);
    PyMem_Free(self->cells);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static const uint32_t *digest_of(BandIndex *self, PyObject *signature)
{
    if (!PyBytes_Check(signature) || PyBytes_GET_SIZE(signature) != (Py_ssize_t)(self->num_perm * sizeof(uint32_t))) {
        PyErr_SetString(PyExc_ValueError, "signature must be bytes of num_perm 32-bit values");
        return NULL;
    }
    return (const uint32_t *)PyBytes_AS_STRING(signature);
}

/* Appends an entry. Returns 0, or -1 with an exception set; the entry may then be in some
 * posting lists (out of memory while linking): the caller forgets `slot`, which stays used. */
static int band_insert(BandIndex *self, int64_t slot, const uint32_t *digest, const uint32_t *keys,
                       Py_ssize_t key_count)
{
    if (self->count > 0 && slot <= self->slots[self->count - 1]) {
        PyErr_SetString(PyExc_ValueError, "slots must be inserted in increasing order");
        return -1;
    }
    if (key_count > UINT32_MAX) {
        PyErr_SetString(PyExc_OverflowError, "too many shingle keys");
        return -1;
    }
    uint32_t *own_keys = PyMem_Malloc(key_count ? key_count * sizeof(uint32_t) : 1);
    if (own_keys == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    if (ensure_entries(self) < 0 || ensure_cells(self) < 0) {
        PyMem_Free(own_keys);
        return -1;
    }
    memcpy(own_keys, keys, key_count * sizeof(uint32_t));
    Py_ssize_t e = self->count;
    Entry *entry = entry_at(self, e);
    self->slots[e] = entry->slot = slot;
    entry->keys = own_keys;
    entry->key_count = (uint32_t)key_count;
    entry->alive = 1;
    memcpy(entry->values, digest, self->num_perm * sizeof(uint32_t));
    /* Counted even if linking fails (out of memory): it may be in some posting lists. */
    self->count++;
    self->live++;
    return link_entry(self, e);
}

static PyObject *BandIndex_insert(BandIndex *self, PyObject *args)
{
    long long slot;
    PyObject *signature;
    Py_buffer keys;
    if (!PyArg_ParseTuple(args, "LOy*", &slot, &signature, &keys))
        return NULL;
    PyObject *result = NULL;
    const uint32_t *digest = digest_of(self, signature);
    if (digest == NULL)
        goto done;
    if (keys.len % sizeof(uint32_t) != 0) {
        PyErr_SetString(PyExc_ValueError, "keys must be bytes of 32-bit values");
        goto done;
    }
    if (band_insert(self, slot, digest, keys.buf, keys.len / (Py_ssize_t)sizeof(uint32_t)) == 0)
        result = Py_NewRef(Py_None);
done:
    PyBuffer_Release(&keys);
    return result;
}

#define MAX_BANDS 256
#define PREFETCH_AHEAD 8
#define STACK_CANDIDATES 256

/* The exact confirmation a query asks for: its shingle keys and the thresholds. */
typedef struct {
    const uint32_t *keys;
    Py_ssize_t count; /* -1: no exact confirmation asked */
    double jaccard, containment;
    Py_ssize_t containment_min;
} Confirmation;

/* The query's shingle keys, when a query passed them (the optional `keys` argument): the exact
 * confirmation then runs on them. Returns -1 with ValueError if they are not 32-bit values. */
static int confirm_with(const Py_buffer *query_keys, Confirmation *exact)
{
    if (query_keys->len % sizeof(uint32_t) != 0) {
        PyErr_SetString(PyExc_ValueError, "keys must be bytes of 32-bit values");
        return -1;
    }
    if (query_keys->obj != NULL) {
        exact->keys = query_keys->buf;
        exact->count = query_keys->len / (Py_ssize_t)sizeof(uint32_t);
    }
    return 0;
}

/* One answer of a query. `id`, `id_length` and `at` are WindowIndex's, filled after the query
 * so that its sort needs no other memory. */
typedef struct {
    int64_t slot;
    int32_t entry;
    int matches;
    double jaccard, containment; /* 0 without exact confirmation */
    const char *id;
    size_t id_length;
    double at;
} Candidate;

/* The answers of a query: in the caller's stack buffer, or in `heap` once they outgrow it (a
 * bucket of near-identical posts). */
typedef struct {
    Candidate *items;
    Py_ssize_t count, capacity;
    Candidate *heap;
} Candidates;

static Candidate *candidates_push(Candidates *found)
{
    if (found->count == found->capacity) {
        Py_ssize_t capacity = 2 * found->capacity;
        Candidate *more = PyMem_Malloc(capacity * sizeof(Candidate));
        if (more == NULL) {
            PyErr_NoMemory();
            return NULL;
        }
        memcpy(more, found->items, found->count * sizeof(Candidate));
        PyMem_Free(found->heap);
        found->items = found->heap = more;
        found->capacity = capacity;
    }
    return &found->items[found->count++];
}

/* The live entries sharing at least one band with `digest` whose signatures agree on at least
 * `least` of the num_perm values, in the order found; with exact confirmation (exact->count >= 0),
 * only those whose shingle sets are close enough: Jaccard >= exact->jaccard, or containment
 * (overlap over the smaller set) >= exact->containment with at least exact->containment_min
 * shingles in the smaller set. Returns 0, or -1 with an exception set. */
static int band_query(const BandIndex *self, const uint32_t *digest, int least, const Confirmation *exact,
                      Candidates *found)
{
    int num_perm = self->num_perm, bands = self->bands, rows = self->rows;
    if (bands > MAX_BANDS) {
        PyErr_SetString(PyExc_ValueError, "too many bands");
        return -1;
    }
    /* 1. all band keys, their cells prefetched; 2. the posting lists, prefetched; 3. the
     * entries, each prefetched PREFETCH_AHEAD postings before it is compared. */
    uint64_t keys[MAX_BANDS];
    const Cell *found_cells[MAX_BANDS];
    for (int b = 0; b < bands; b++) {
        keys[b] = band_key(digest, b, rows);
        __builtin_prefetch(&self->cells[(size_t)keys[b] & self->cell_mask]);
    }
    for (int b = 0; b < bands; b++) {
        const Cell *cell = found_cells[b] = find_cell(self, keys[b]);
        if (cell->count >= 2)
            __builtin_prefetch(cell->postings.items);
    }
    /* 3. the entries that share a band and agree on `least` values; their shingle keys are
     * prefetched as they are found, and compared once all are found (step 4). */
    for (int b = 0; b < bands; b++) {
        const int32_t *postings = postings_of(found_cells[b]);
        uint32_t count = found_cells[b]->count;
        for (uint32_t k = 0; k < count && k < PREFETCH_AHEAD; k++)
            prefetch_entry(self, postings[k]);
        for (uint32_t k = 0; k < count; k++) {
            if (k + PREFETCH_AHEAD < count)
                prefetch_entry(self, postings[k + PREFETCH_AHEAD]);
            const Entry *entry = entry_at(self, postings[k]);
            if (!entry->alive)
                continue;
            const uint32_t *other = entry->values;
            if (!band_equal(digest, other, b, rows))
                continue; /* a key collision */
            int earlier = 0; /* found through an earlier band already */
            for (int c = 0; c < b && !earlier; c++)
                earlier = band_equal(digest, other, c, rows);
            if (earlier)
                continue;
            int matches = 0;
            for (int p = 0; p < num_perm; p++)
                matches += digest[p] == other[p];
            if (matches < least)
                continue;
            Candidate *candidate = candidates_push(found);
            if (candidate == NULL)
                return -1;
            candidate->slot = entry->slot;
            candidate->entry = postings[k];
            candidate->matches = matches;
            candidate->jaccard = candidate->containment = 0.0;
            if (exact->count >= 0)
                for (uint32_t line = 0; line < entry->key_count; line += 16)
                    __builtin_prefetch(entry->keys + line);
        }
    }
    if (found->count == 0 || exact->count < 0)
        return 0;
    /* 4. the exact confirmation against the query's set of shingle keys: the close ones are
     * kept, in order. */
    size_t capacity = set_capacity(exact->count);
    HashSet mine = {PyMem_Calloc(capacity, sizeof(uint64_t)), capacity - 1, 0};
    if (mine.cells == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i < exact->count; i++)
        hashset_add(&mine, exact->keys[i]);
    Py_ssize_t kept = 0;
    for (Py_ssize_t j = 0; j < found->count; j++) {
        Candidate *candidate = &found->items[j];
        const Entry *entry = entry_at(self, candidate->entry);
        Py_ssize_t overlap = 0, theirs = entry->key_count;
        for (uint32_t i = 0; i < entry->key_count; i++)
            overlap += hashset_has(&mine, entry->keys[i]);
        Py_ssize_t smaller = exact->count < theirs ? exact->count : theirs;
        double jaccard = 0.0, containment = 0.0;
        if (smaller > 0) {
            jaccard = (double)overlap / (double)(exact->count + theirs - overlap);
            containment = (double)overlap / (double)smaller;
        }
        if (jaccard < exact->jaccard && (containment < exact->containment || smaller < exact->containment_min))
            continue;
        candidate->jaccard = jaccard;
        candidate->containment = containment;
        found->items[kept++] = *candidate;
    }
    found->count = kept;
    PyMem_Free(mine.cells);
    return 0;
}

/* The answers of a query as a list: `answer` makes each candidate's item (NULL with an exception
 * set on failure, which fails the list). */
typedef PyObject *(*AnswerFunction)(const Candidate *candidate, const void *context);

static PyObject *answers_of(const Candidates *found, AnswerFunction answer, const void *context)
{
    PyObject *result = PyList_New(found->count);
    for (Py_ssize_t j = 0; result != NULL && j < found->count; j++) {
        PyObject *item = answer(&found->items[j], context);
        if (item == NULL)
            Py_CLEAR(result);
        else
            PyList_SET_ITEM(result, j, item);
    }
    return result;
}

/* What a query holds until it returns: the answers that outgrew the stack, the query's keys. */
static void query_release(Candidates *found, Py_buffer *query_keys)
{
    PyMem_Free(found->heap);
    if (query_keys->obj != NULL)
        PyBuffer_Release(query_keys);
}

/* BandIndex.query's item: (matches, slot[, jaccard, containment]). */
static PyObject *band_answer(const Candidate *candidate, const void *context)
{
    const Confirmation *exact = context;
    return exact->count < 0
        ? Py_BuildValue("iL", candidate->matches, (long long)candidate->slot)
        : Py_BuildValue("iLdd", candidate->matches, (long long)candidate->slot, candidate->jaccard,
                        candidate->containment);
}

/* query(signature, least[, keys, jaccard, containment, containment_min]) -> [(matches, slot)]:
 * band_query's answers; with the query's shingle keys (fingerprint()), each comes as
 * (matches, slot, jaccard, containment). */
static PyObject *BandIndex_query(BandIndex *self, PyObject *args)
{
    PyObject *signature;
    int least;
    Py_buffer query_keys = {.buf = NULL, .obj = NULL, .len = 0};
    Confirmation exact = {.count = -1};
    if (!PyArg_ParseTuple(args, "Oi|y*ddn", &signature, &least, &query_keys, &exact.jaccard, &exact.containment,
                          &exact.containment_min))
        return NULL;
    PyObject *result = NULL;
    Candidate stack[STACK_CANDIDATES];
    Candidates found = {stack, 0, STACK_CANDIDATES, NULL};
    const uint32_t *digest = digest_of(self, signature);
    if (digest == NULL)
        goto done;
    if (confirm_with(&query_keys, &exact) < 0)
        goto done;
    if (band_query(self, digest, least, &exact, &found) < 0)
        goto done;
    result = answers_of(&found, band_answer, &exact);
done:
    query_release(&found, &query_keys);
    return result;
}

/* Hides the entry of `slot` from queries (until compaction drops it). Returns 1 if it was live. */
static int band_forget(BandIndex *self, int64_t slot)
{
    Py_ssize_t low = 0, high = self->count;
    while (low < high) {
        Py_ssize_t middle = low + (high - low) / 2;
        if (self->slots[middle] < slot)
            low = middle + 1;
        else
            high = middle;
    }
    Entry *entry = low < self->count && self->slots[low] == slot ? entry_at(self, low) : NULL;
    if (entry == NULL || !entry->alive)
        return 0;
    entry->alive = 0;
    PyMem_Free(entry->keys);
    entry->keys = NULL;
    self->live--;
    return 1;
}

/* forget(slot) -> bool: the entry of `slot` is no candidate any more (until compact drops it). */
static PyObject *BandIndex_forget(BandIndex *self, PyObject *arg)
{
    long long slot = PyLong_AsLongLong(arg);
    if (slot == -1 && PyErr_Occurred())
        return NULL;
    return PyBool_FromLong(band_forget(self, slot));
}

/* Drops the forgotten entries and rebuilds the band tables. Returns the live entries, or -1
 * with an exception set. */
static Py_ssize_t band_compact(BandIndex *self)
{
    Py_ssize_t kept = 0;
    for (Py_ssize_t e = 0; e < self->count; e++) {
        if (!entry_at(self, e)->alive)
            continue;
        if (kept != e) {
            memcpy(entry_at(self, kept), entry_at(self, e), self->entry_size);
            self->slots[kept] = self->slots[e];
        }
        kept++;
    }
    self->count = self->live = kept;
    if (reset_cells(self, (size_t)kept * self->bands) < 0)
        return -1;
    for (Py_ssize_t e = 0; e < kept; e++) {
        if (link_entry(self, e) < 0)
            return -1;
    }
    return kept;
}

/* compact() -> live entries: drops the forgotten entries and rebuilds the band tables. */
static PyObject *BandIndex_compact(BandIndex *self, PyObject *unused)
{
    Py_ssize_t kept = band_compact(self);
    return kept < 0 ? NULL : PyLong_FromSsize_t(kept);
}

static Py_ssize_t BandIndex_len(BandIndex *self)
{
    return self->live;
}

static PyObject *BandIndex_get_inserted(BandIndex *self, void *closure)
{
    return PyLong_FromSsize_t(self->count);
}

static PyObject *BandIndex_get_forgotten(BandIndex *self, void *closure)
{
    return PyLong_FromSsize_t(self->count - self->live);
}

static PyMethodDef BandIndex_methods[] = {
    {"insert", (PyCFunction)BandIndex_insert, METH_VARARGS,
     "insert(slot, signature, keys): add an entry; slots must increase."},
    {"query", (PyCFunction)BandIndex_query, METH_VARARGS,
     "query(signature, least[, keys, jaccard, containment, containment_min]) -> [(matches, slot[, jaccard, "
     "containment])]: live entries sharing a band, with at least `least` equal signature values (and, with "
     "keys, whose shingle sets are close enough)."},
    {"forget", (PyCFunction)BandIndex_forget, METH_O, "forget(slot) -> bool"},
    {"compact", (PyCFunction)BandIndex_compact, METH_NOARGS,
     "compact() -> int: drop forgotten entries, rebuild the band tables; returns the live count."},
    {NULL},
};

static PyGetSetDef BandIndex_getset[] = {
    {"inserted", (getter)BandIndex_get_inserted, NULL, "entries in the band tables, forgotten included", NULL},
    {"forgotten", (getter)BandIndex_get_forgotten, NULL, "forgotten entries not compacted yet", NULL},
    {NULL},
};

static PySequenceMethods BandIndex_as_sequence = {.sq_length = (lenfunc)BandIndex_len};

static PyTypeObject BandIndexType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "agents.domain._fingerprint.BandIndex",
    .tp_doc = PyDoc_STR("BandIndex(num_perm, bands): MinHash LSH band tables of one bucket, slot-numbered."),
    .tp_basicsize = sizeof(BandIndex),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)BandIndex_init,
    .tp_dealloc = (destructor)BandIndex_dealloc,
    .tp_methods = BandIndex_methods,
    .tp_getset = BandIndex_getset,
    .tp_as_sequence = &BandIndex_as_sequence,
};

/* ---- WindowIndex ----------------------------------------------------------------------------
 *
 * Everything LshIndex (agents/domain/cluster.py) keeps of the fingerprints in the window: a
 * BandIndex per bucket (category and place; bucket strings are numbered in order of first use),
 * and per slot (arrival order) the member's id, event time and bucket number, with an
 * id -> slot hash table. Adding, expiring by time and answering a query are one C call each and
 * keep no Python object per fingerprint: ids are kept as UTF-8, and a str is made only for the
 * ids a call returns. (In Python these were a dict and four parallel lists of objects: ~15% of
 * the stage at 1,000,000 fingerprints, nearly all of it cache misses on those objects.)
 *
 * Members are an array indexed by slot - base. Expiry walks it from `head` and drops the
 * expired front once it is at least trim_slots long and half the array (amortized O(1) per
 * member). A bucket's band tables are compacted once at least rebuild_forgotten of its entries,
 * and at least half, were forgotten: at most one re-insert per forgotten fingerprint.
 */

#define INLINE_ID_CHARS 24 /* "cmp-" and 20 hex digits (schemas.events.stable_id) fit inline */

typedef struct {
    double at;
    uint64_t id_hash;
    int32_t bucket;     /* -1: forgotten (expired or removed) */
    uint32_t id_length; /* bytes of UTF-8; 0 once forgotten */
    union {
        char chars[INLINE_ID_CHARS]; /* id_length <= INLINE_ID_CHARS */
        char *heap;                  /* longer ids: malloc'd */
    } id;
} Member;

typedef struct {
    uint64_t hash;
    int64_t slot; /* -1: a free cell */
} IdCell;

typedef struct {
    PyObject_HEAD
    int num_perm, bands;
    Py_ssize_t rebuild_forgotten, trim_slots;
    PyObject *bucket_numbers; /* dict: bucket -> its number */
    PyObject *buckets;        /* list: number -> (bucket, BandIndex), appended in one step */
    Member *members;          /* the slots base .. base + member_count - 1 */
    Py_ssize_t member_count, member_capacity;
    int64_t base, head;       /* head: the oldest slot not expired; every slot before it is forgotten */
    IdCell *id_cells;         /* linear probing, at most 70% full */
    size_t id_mask;
    Py_ssize_t live;
} WindowIndex;

static inline const char *member_id(const Member *member)
{
    return member->id_length <= INLINE_ID_CHARS ? member->id.chars : member->id.heap;
}

static inline Member *member_at(const WindowIndex *self, int64_t slot)
{
    return &self->members[slot - self->base];
}

static inline PyObject *bucket_entry(const WindowIndex *self, Py_ssize_t number)
{
    return PyList_GET_ITEM(self->buckets, number);
}

static inline BandIndex *table_of(const WindowIndex *self, Py_ssize_t number)
{
    return (BandIndex *)PyTuple_GET_ITEM(bucket_entry(self, number), 1);
}

static inline uint64_t id_hash(const char *chars, size_t length)
{
    uint64_t h = FNV_OFFSET;
    for (size_t i = 0; i < length; i++)
        h = (h ^ (unsigned char)chars[i]) * FNV_PRIME;
    return fmix64(h);
}

/* The UTF-8 of a member id, or NULL with an exception set if it is not a str. Lone surrogates
 * are encoded as such ("surrogatepass"), so every str is a valid id, as for a dict; `*hold` is
 * then the bytes holding them, to release after use (else NULL). */
static const char *id_chars(PyObject *member, Py_ssize_t *length, PyObject **hold)
{
    *hold = NULL;
    if (!PyUnicode_Check(member)) {
        PyErr_SetString(PyExc_TypeError, "member must be a str");
        return NULL;
    }
    const char *chars = PyUnicode_AsUTF8AndSize(member, length);
    if (chars != NULL || !PyErr_ExceptionMatches(PyExc_UnicodeEncodeError))
        return chars;
    PyErr_Clear();
    *hold = PyUnicode_AsEncodedString(member, "utf-8", "surrogatepass");
    if (*hold == NULL)
        return NULL;
    *length = PyBytes_GET_SIZE(*hold);
    return PyBytes_AS_STRING(*hold);
}

/* A member id as a str (the inverse of id_chars). */
static inline PyObject *id_str(const char *chars, size_t length)
{
    return PyUnicode_DecodeUTF8(chars, (Py_ssize_t)length, "surrogatepass");
}

/* A tuple of `count` new references; NULL if one of them is NULL (its exception set) or the
 * tuple cannot be made, releasing the others. */
static PyObject *tuple_of(Py_ssize_t count, PyObject **items)
{
    PyObject *tuple = NULL;
    for (Py_ssize_t i = 0; i < count; i++) {
        if (items[i] == NULL)
            goto failed;
    }
    tuple = PyTuple_New(count);
    if (tuple == NULL)
        goto failed;
    for (Py_ssize_t i = 0; i < count; i++)
        PyTuple_SET_ITEM(tuple, i, items[i]);
    return tuple;
failed:
    for (Py_ssize_t i = 0; i < count; i++)
        Py_XDECREF(items[i]);
    return NULL;
}

/* The cell of the live member with this id, or NULL. */
static IdCell *find_id(const WindowIndex *self, const char *chars, size_t length, uint64_t hash)
{
    for (size_t i = (size_t)hash & self->id_mask;; i = (i + 1) & self->id_mask) {
        IdCell *cell = &self->id_cells[i];
        if (cell->slot < 0)
            return NULL;
        if (cell->hash == hash) {
            const Member *member = member_at(self, cell->slot);
            if (member->id_length == length && memcmp(member_id(member), chars, length) == 0)
                return cell;
        }
    }
}

/* The live member of a str id, or NULL (no exception) if there is none. NULL with an exception
 * set only if the id cannot be encoded (out of memory). */
static Member *find_member(const WindowIndex *self, PyObject *member)
{
    if (!PyUnicode_Check(member))
        return NULL;
    Py_ssize_t length;
    PyObject *hold;
    const char *chars = id_chars(member, &length, &hold);
    if (chars == NULL)
        return NULL;
    const IdCell *cell = find_id(self, chars, (size_t)length, id_hash(chars, (size_t)length));
    Py_XDECREF(hold);
    return cell == NULL ? NULL : member_at(self, cell->slot);
}

static void place_id(IdCell *cells, size_t mask, uint64_t hash, int64_t slot)
{
    size_t i = (size_t)hash & mask;
    while (cells[i].slot >= 0)
        i = (i + 1) & mask;
    cells[i].hash = hash;
    cells[i].slot = slot;
}

/* Removes the cell of `slot` (whose id hashes to `hash`) and moves later cells of its probe
 * run back into the hole, so that lookups need no tombstones. */
static void unlink_id(WindowIndex *self, uint64_t hash, int64_t slot)
{
    IdCell *cells = self->id_cells;
    size_t mask = self->id_mask, hole = (size_t)hash & mask;
    while (cells[hole].slot != slot) {
        if (cells[hole].slot < 0)
            return; /* not there (cannot happen: every live member has its cell) */
        hole = (hole + 1) & mask;
    }
    for (size_t next = (hole + 1) & mask; cells[next].slot >= 0; next = (next + 1) & mask) {
        size_t home = (size_t)cells[next].hash & mask;
        /* It may fill the hole unless its home lies after the hole (cyclically, up to `next`). */
        if (((next - home) & mask) >= ((next - hole) & mask)) {
            cells[hole] = cells[next];
            hole = next;
        }
    }
    cells[hole].slot = -1;
}

static IdCell *new_id_cells(size_t capacity)
{
    IdCell *cells = PyMem_Malloc(capacity * sizeof(IdCell));
    if (cells == NULL) {
        PyErr_NoMemory();
        return NULL;
    }
    for (size_t i = 0; i < capacity; i++)
        cells[i].slot = -1;
    return cells;
}

/* Room in the id table for one more member. */
static int ensure_id_room(WindowIndex *self)
{
    size_t capacity = self->id_mask + 1;
    if ((size_t)(self->live + 1) * 10 <= capacity * 7)
        return 0;
    IdCell *cells = new_id_cells(2 * capacity);
    if (cells == NULL)
        return -1;
    for (size_t i = 0; i < capacity; i++) {
        if (self->id_cells[i].slot >= 0)
            place_id(cells, 2 * capacity - 1, self->id_cells[i].hash, self->id_cells[i].slot);
    }
    PyMem_Free(self->id_cells);
    self->id_cells = cells;
    self->id_mask = 2 * capacity - 1;
    return 0;
}

static int ensure_member_room(WindowIndex *self)
{
    if (self->member_count < self->member_capacity)
        return 0;
    Py_ssize_t capacity = self->member_capacity ? 2 * self->member_capacity : 64;
    if ((size_t)capacity > PY_SSIZE_T_MAX / sizeof(Member)) {
        PyErr_NoMemory();
        return -1;
    }
    Member *members = PyMem_Realloc(self->members, capacity * sizeof(Member));
    if (members == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    self->members = members;
    self->member_capacity = capacity;
    return 0;
}

/* The number of `bucket`; -1 if it has none and `create` is 0; -2 with an exception set. */
static Py_ssize_t bucket_number(WindowIndex *self, PyObject *bucket, int create)
{
    if (!PyUnicode_Check(bucket)) {
        if (!create)
            return -1; /* as a dict of str keys answers */
        PyErr_SetString(PyExc_TypeError, "bucket must be a str");
        return -2;
    }
    PyObject *known = PyDict_GetItemWithError(self->bucket_numbers, bucket); /* borrowed */
    if (known != NULL)
        return PyLong_AsSsize_t(known);
    if (PyErr_Occurred())
        return -2;
    if (!create)
        return -1;
    Py_ssize_t number = PyList_GET_SIZE(self->buckets);
    if (number >= INT32_MAX) {
        PyErr_SetString(PyExc_OverflowError, "too many buckets");
        return -2;
    }
    PyObject *table = PyObject_CallFunction((PyObject *)&BandIndexType, "ii", self->num_perm, self->bands);
    PyObject *entry = table == NULL ? NULL : PyTuple_Pack(2, bucket, table);
    PyObject *key = entry == NULL ? NULL : PyLong_FromSsize_t(number);
    /* An entry appended whose number was not recorded is never used: the next bucket gets the
     * next number. */
    int failed = key == NULL || PyList_Append(self->buckets, entry) < 0
                 || PyDict_SetItem(self->bucket_numbers, bucket, key) < 0;
    Py_XDECREF(table);
    Py_XDECREF(entry);
    Py_XDECREF(key);
    return failed ? -2 : number;
}

static int WindowIndex_init(WindowIndex *self, PyObject *args, PyObject *kwargs)
{
    static char *names[] = {"num_perm", "bands", "rebuild_forgotten", "trim_slots", NULL};
    int num_perm, bands;
    Py_ssize_t rebuild_forgotten, trim_slots;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "iinn", names, &num_perm, &bands, &rebuild_forgotten,
                                     &trim_slots))
        return -1;
    if (num_perm < 1 || num_perm > MAX_PERM || bands < 1 || num_perm % bands != 0) {
        PyErr_SetString(PyExc_ValueError, "num_perm must be a multiple of bands");
        return -1;
    }
    if (rebuild_forgotten < 1 || trim_slots < 1) {
        PyErr_SetString(PyExc_ValueError, "rebuild_forgotten and trim_slots must be positive");
        return -1;
    }
    if (self->id_cells != NULL) {
        PyErr_SetString(PyExc_RuntimeError, "WindowIndex already initialized");
        return -1;
    }
    Py_XSETREF(self->bucket_numbers, PyDict_New());
    Py_XSETREF(self->buckets, PyList_New(0));
    self->id_cells = new_id_cells(16);
    if (self->bucket_numbers == NULL || self->buckets == NULL || self->id_cells == NULL)
        return -1; /* dealloc releases what was made */
    self->id_mask = 15;
    self->num_perm = num_perm;
    self->bands = bands;
    self->rebuild_forgotten = rebuild_forgotten;
    self->trim_slots = trim_slots;
    return 0;
}

static int WindowIndex_ready(const WindowIndex *self)
{
    if (self->id_cells != NULL)
        return 1;
    PyErr_SetString(PyExc_RuntimeError, "WindowIndex not initialized");
    return 0;
}

static void WindowIndex_dealloc(WindowIndex *self)
{
    for (Py_ssize_t i = 0; i < self->member_count; i++) {
        if (self->members[i].id_length > INLINE_ID_CHARS)
            PyMem_Free(self->members[i].id.heap);
    }
    PyMem_Free(self->members);
    PyMem_Free(self->id_cells);
    Py_XDECREF(self->bucket_numbers);
    Py_XDECREF(self->buckets);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* add(member, bucket, at, signature, keys) -> bool: index a fingerprint under the next slot;
 * False (and nothing done) if the member is indexed already. */
static PyObject *WindowIndex_add(WindowIndex *self, PyObject *args)
{
    PyObject *member, *bucket, *signature, *hold = NULL, *result = NULL;
    double at;
    Py_buffer keys;
    if (!WindowIndex_ready(self) || !PyArg_ParseTuple(args, "OOdOy*", &member, &bucket, &at, &signature, &keys))
        return NULL;
    char *heap_id = NULL;
    Py_ssize_t length;
    const char *chars = id_chars(member, &length, &hold);
    if (chars == NULL)
        goto done;
    if (keys.len % sizeof(uint32_t) != 0 || (size_t)length > UINT32_MAX) {
        PyErr_SetString(PyExc_ValueError, (size_t)length > UINT32_MAX ? "member id too long"
                                                                      : "keys must be bytes of 32-bit values");
        goto done;
    }
    uint64_t hash = id_hash(chars, (size_t)length);
    if (find_id(self, chars, (size_t)length, hash) != NULL) {
        result = Py_NewRef(Py_False);
        goto done;
    }
    Py_ssize_t number = bucket_number(self, bucket, 1);
    if (number < 0)
        goto done;
    BandIndex *table = table_of(self, number);
    const uint32_t *digest = digest_of(table, signature);
    if (digest == NULL)
        goto done;
    if (length > INLINE_ID_CHARS) {
        heap_id = PyMem_Malloc(length);
        if (heap_id == NULL) {
            PyErr_NoMemory();
            goto done;
        }
        memcpy(heap_id, chars, length);
    }
    if (ensure_member_room(self) < 0 || ensure_id_room(self) < 0)
        goto done;
    /* The slot is used even if the insert fails: the band tables may hold it (forgotten), and
     * slots must increase. */
    int64_t slot = self->base + self->member_count;
    Member *record = &self->members[self->member_count++];
    record->at = at;
    record->id_hash = hash;
    record->bucket = -1;
    record->id_length = 0;
    if (band_insert(table, slot, digest, keys.buf, keys.len / (Py_ssize_t)sizeof(uint32_t)) < 0) {
        band_forget(table, slot);
        goto done;
    }
    record->bucket = (int32_t)number;
    record->id_length = (uint32_t)length;
    if (heap_id != NULL) {
        record->id.heap = heap_id;
        heap_id = NULL;
    } else {
        memcpy(record->id.chars, chars, length);
    }
    place_id(self->id_cells, self->id_mask, hash, slot);
    self->live++;
    result = Py_NewRef(Py_True);
done:
    PyMem_Free(heap_id);
    Py_XDECREF(hold);
    PyBuffer_Release(&keys);
    return result;
}

/* Forgets the live member of `slot`: out of the id table and no candidate any more. Its
 * bucket's band tables are compacted once enough of them were forgotten. Returns 0, or -1 with
 * an exception set (out of memory while compacting: the member is forgotten all the same). */
static int forget_member(WindowIndex *self, int64_t slot)
{
    Member *member = member_at(self, slot);
    BandIndex *table = table_of(self, member->bucket);
    unlink_id(self, member->id_hash, slot);
    band_forget(table, slot);
    if (member->id_length > INLINE_ID_CHARS)
        PyMem_Free(member->id.heap);
    member->id_length = 0;
    member->bucket = -1;
    self->live--;
    Py_ssize_t forgotten = table->count - table->live;
    if (forgotten >= self->rebuild_forgotten && 2 * forgotten >= table->count)
        return band_compact(table) < 0 ? -1 : 0;
    return 0;
}

/* remove(member) -> bool: forget a member; False if it was not indexed. */
static PyObject *WindowIndex_remove(WindowIndex *self, PyObject *member)
{
    if (!WindowIndex_ready(self))
        return NULL;
    Member *found = find_member(self, member);
    if (found == NULL)
        return PyErr_Occurred() ? NULL : Py_NewRef(Py_False);
    if (forget_member(self, self->base + (found - self->members)) < 0)
        return NULL;
    Py_RETURN_TRUE;
}

/* expire(before) -> [(member, bucket)]: forget members in slot order up to the first live one
 * whose time is at least `before` (arrival order is close to event-time order; callers check
 * the window exactly on candidates). */
static PyObject *WindowIndex_expire(WindowIndex *self, PyObject *arg)
{
    if (!WindowIndex_ready(self))
        return NULL;
    double before = PyFloat_AsDouble(arg);
    if (before == -1.0 && PyErr_Occurred())
        return NULL;
    PyObject *expired = PyList_New(0);
    if (expired == NULL)
        return NULL;
    Py_ssize_t i = self->head - self->base;
    for (; i < self->member_count; i++) {
        const Member *member = &self->members[i];
        if (member->bucket < 0)
            continue;
        if (member->at >= before)
            break;
        PyObject *bucket = PyTuple_GET_ITEM(bucket_entry(self, member->bucket), 0);
        PyObject *pair = tuple_of(2, (PyObject *[]){id_str(member_id(member), member->id_length), Py_NewRef(bucket)});
        int appended = pair != NULL && PyList_Append(expired, pair) == 0;
        Py_XDECREF(pair);
        if (!appended) { /* not forgotten: the next call returns it */
            Py_CLEAR(expired);
            break;
        }
        if (forget_member(self, self->base + i) < 0) {
            Py_CLEAR(expired);
            i++;
            break;
        }
    }
    self->head = self->base + i;
    Py_ssize_t front = i;
    if (front >= self->trim_slots && 2 * front >= self->member_count) {
        /* Every member of the front is forgotten (its id freed): nothing refers to it. */
        memmove(self->members, self->members + front, (size_t)(self->member_count - front) * sizeof(Member));
        self->member_count -= front;
        self->base += front;
    }
    return expired;
}

/* Best estimate first, ties by id, greatest first: the order Python's sort(reverse=True) gives
 * the (estimate, id, ...) tuples, ids being unique (UTF-8 orders as code points do). */
static int best_first(const void *x, const void *y)
{
    const Candidate *a = x, *b = y;
    if (a->matches != b->matches)
        return a->matches > b->matches ? -1 : 1;
    size_t common = a->id_length < b->id_length ? a->id_length : b->id_length;
    int order = memcmp(a->id, b->id, common);
    if (order == 0)
        order = (a->id_length > b->id_length) - (a->id_length < b->id_length);
    return order > 0 ? -1 : order < 0 ? 1 : 0;
}

/* WindowIndex.query's item: (estimate, id, at[, jaccard, containment]). */
typedef struct {
    int num_perm;
    const Confirmation *exact;
} WindowAnswers;

static PyObject *window_answer(const Candidate *candidate, const void *context)
{
    const WindowAnswers *how = context;
    PyObject *items[5] = {PyFloat_FromDouble((double)candidate->matches / (double)how->num_perm),
                          id_str(candidate->id, candidate->id_length), PyFloat_FromDouble(candidate->at), NULL,
                          NULL};
    Py_ssize_t count = 3;
    if (how->exact->count >= 0) {
        items[3] = PyFloat_FromDouble(candidate->jaccard);
        items[4] = PyFloat_FromDouble(candidate->containment);
        count = 5;
    }
    return tuple_of(count, items);
}

/* query(bucket, signature, least[, keys, jaccard, containment, containment_min]) ->
 * [(estimate, member, at)], with the query's shingle keys [(estimate, member, at, jaccard,
 * containment)]: BandIndex.query on the bucket's tables, with each slot's member and time, the
 * estimated Jaccard similarity (matches / num_perm), best first (ties by id). */
static PyObject *WindowIndex_query(WindowIndex *self, PyObject *args)
{
    PyObject *bucket, *signature;
    int least;
    Py_buffer query_keys = {.buf = NULL, .obj = NULL, .len = 0};
    Confirmation exact = {.count = -1};
    if (!WindowIndex_ready(self)
        || !PyArg_ParseTuple(args, "OOi|y*ddn", &bucket, &signature, &least, &query_keys, &exact.jaccard,
                             &exact.containment, &exact.containment_min))
        return NULL;
    PyObject *result = NULL;
    Candidate stack[STACK_CANDIDATES];
    Candidates found = {stack, 0, STACK_CANDIDATES, NULL};
    Py_ssize_t number = bucket_number(self, bucket, 0);
    if (number == -2)
        goto done;
    if (number == -1) { /* a bucket never seen: nothing to check the arguments against */
        result = PyList_New(0);
        goto done;
    }
    if (confirm_with(&query_keys, &exact) < 0)
        goto done;
    BandIndex *table = table_of(self, number);
    const uint32_t *digest = digest_of(table, signature);
    if (digest == NULL || band_query(table, digest, least, &exact, &found) < 0)
        goto done;
    for (Py_ssize_t j = 0; j < found.count; j++) {
        Candidate *candidate = &found.items[j];
        /* The band tables hold live slots only, and every live slot is at or after head. */
        if (candidate->slot < self->head || candidate->slot - self->base >= self->member_count
            || member_at(self, candidate->slot)->bucket != number) {
            PyErr_SetString(PyExc_SystemError, "WindowIndex: band tables out of step with the members");
            goto done;
        }
        const Member *member = member_at(self, candidate->slot);
        candidate->id = member_id(member);
        candidate->id_length = member->id_length;
        candidate->at = member->at;
    }
    if (found.count > 1)
        qsort(found.items, (size_t)found.count, sizeof(Candidate), best_first);
    WindowAnswers how = {self->num_perm, &exact};
    result = answers_of(&found, window_answer, &how);
done:
    query_release(&found, &query_keys);
    return result;
}

/* at_of(member) -> float | None: the event time of an indexed member. */
static PyObject *WindowIndex_at_of(WindowIndex *self, PyObject *member)
{
    if (!WindowIndex_ready(self))
        return NULL;
    const Member *found = find_member(self, member);
    if (found == NULL)
        return PyErr_Occurred() ? NULL : Py_NewRef(Py_None);
    return PyFloat_FromDouble(found->at);
}

/* compact() -> int: every bucket's band tables rebuilt without their forgotten entries;
 * returns how many entries were re-inserted. */
static PyObject *WindowIndex_compact(WindowIndex *self, PyObject *unused)
{
    if (!WindowIndex_ready(self))
        return NULL;
    Py_ssize_t reinserted = 0;
    for (Py_ssize_t number = 0; number < PyList_GET_SIZE(self->buckets); number++) {
        Py_ssize_t kept = band_compact(table_of(self, number));
        if (kept < 0)
            return NULL;
        reinserted += kept;
    }
    return PyLong_FromSsize_t(reinserted);
}

/* band_index(bucket) -> BandIndex | None: a bucket's band tables (for tests and diagnostics). */
static PyObject *WindowIndex_band_index(WindowIndex *self, PyObject *bucket)
{
    if (!WindowIndex_ready(self))
        return NULL;
    Py_ssize_t number = bucket_number(self, bucket, 0);
    if (number == -2)
        return NULL;
    return Py_NewRef(number < 0 ? Py_None : (PyObject *)table_of(self, number));
}

static Py_ssize_t WindowIndex_len(WindowIndex *self)
{
    return self->live;
}

static int WindowIndex_contains(WindowIndex *self, PyObject *member)
{
    if (!WindowIndex_ready(self))
        return -1;
    if (find_member(self, member) != NULL)
        return 1;
    return PyErr_Occurred() ? -1 : 0;
}

static PyObject *WindowIndex_get_trimmed(WindowIndex *self, void *closure)
{
    return PyLong_FromLongLong(self->base);
}

static PyMethodDef WindowIndex_methods[] = {
    {"add", (PyCFunction)WindowIndex_add, METH_VARARGS,
     "add(member, bucket, at, signature, keys) -> bool: index a fingerprint (False if the member is indexed)."},
    {"remove", (PyCFunction)WindowIndex_remove, METH_O, "remove(member) -> bool: forget a member."},
    {"expire", (PyCFunction)WindowIndex_expire, METH_O,
     "expire(before) -> [(member, bucket)]: forget members in arrival order up to the first live one at or "
     "after `before`."},
    {"query", (PyCFunction)WindowIndex_query, METH_VARARGS,
     "query(bucket, signature, least[, keys, jaccard, containment, containment_min]) -> [(estimate, member, at"
     "[, jaccard, containment])], best estimate first, ties by id."},
    {"at_of", (PyCFunction)WindowIndex_at_of, METH_O, "at_of(member) -> float | None"},
    {"compact", (PyCFunction)WindowIndex_compact, METH_NOARGS,
     "compact() -> int: rebuild every bucket's band tables; returns the entries re-inserted."},
    {"band_index", (PyCFunction)WindowIndex_band_index, METH_O, "band_index(bucket) -> BandIndex | None"},
    {NULL},
};

static PyGetSetDef WindowIndex_getset[] = {
    {"trimmed", (getter)WindowIndex_get_trimmed, NULL, "slots dropped from the expired front", NULL},
    {NULL},
};

static PySequenceMethods WindowIndex_as_sequence = {
    .sq_length = (lenfunc)WindowIndex_len,
    .sq_contains = (objobjproc)WindowIndex_contains,
};

/* Not garbage-collected: it refers only to strs and BandIndexes, never back to itself. */
static PyTypeObject WindowIndexType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "agents.domain._fingerprint.WindowIndex",
    .tp_doc = PyDoc_STR("WindowIndex(num_perm, bands, rebuild_forgotten, trim_slots): the fingerprints of the "
                        "window, by bucket, with expiry by event time."),
    .tp_basicsize = sizeof(WindowIndex),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)WindowIndex_init,
    .tp_dealloc = (destructor)WindowIndex_dealloc,
    .tp_methods = WindowIndex_methods,
    .tp_getset = WindowIndex_getset,
    .tp_as_sequence = &WindowIndex_as_sequence,
};

static PyMethodDef module_methods[] = {
    {"shingle_hashes", py_shingle_hashes, METH_O, "shingle_hashes(text) -> [int]: 64-bit hash of each shingle, in order."},
    {"signature", py_signature, METH_VARARGS,
     "signature(text, num_perm, seed) -> bytes: MinHash of the shingle hashes, num_perm 32-bit values."},
    {"fingerprint", py_fingerprint, METH_VARARGS,
     "fingerprint(text, num_perm, seed) -> (signature, keys): the signature and the distinct shingle keys."},
    {NULL},
};

static struct PyModuleDef module_definition = {
    PyModuleDef_HEAD_INIT, "_fingerprint", "Native fast path of near-duplicate clustering.", -1, module_methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__fingerprint(void)
{
    if (PyType_Ready(&WordFilterType) < 0 || PyType_Ready(&BandIndexType) < 0 || PyType_Ready(&WindowIndexType) < 0)
        return NULL;
    PyObject *module = PyModule_Create(&module_definition);
    if (module == NULL)
        return NULL;
    if (PyModule_AddType(module, &WordFilterType) < 0 || PyModule_AddType(module, &BandIndexType) < 0 ||
        PyModule_AddType(module, &WindowIndexType) < 0) {
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
