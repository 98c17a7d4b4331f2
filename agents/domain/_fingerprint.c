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
 *   per fingerprint or per candidate.
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
    for (Py_ssize_t i = 0; i < count; i++) {
        uint64_t h = FNV_OFFSET;
        for (Py_ssize_t j = 0; j < width; j++)
            h = (h ^ (uint64_t)PyUnicode_READ(kind, data, i + j)) * FNV_PRIME;
        hashes[i] = fmix64(h);
    }
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

static PyObject *BandIndex_insert(BandIndex *self, PyObject *args)
{
    long long slot;
    PyObject *signature;
    Py_buffer keys;
    if (!PyArg_ParseTuple(args, "LOy*", &slot, &signature, &keys))
        return NULL;
    PyObject *result = NULL;
    uint32_t *own_keys = NULL;
    const uint32_t *digest = digest_of(self, signature);
    if (digest == NULL)
        goto done;
    if (keys.len % sizeof(uint32_t) != 0) {
        PyErr_SetString(PyExc_ValueError, "keys must be bytes of 32-bit values");
        goto done;
    }
    if (self->count > 0 && slot <= self->slots[self->count - 1]) {
        PyErr_SetString(PyExc_ValueError, "slots must be inserted in increasing order");
        goto done;
    }
    own_keys = PyMem_Malloc(keys.len ? keys.len : 1);
    if (own_keys == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    memcpy(own_keys, keys.buf, keys.len);
    if (ensure_entries(self) < 0 || ensure_cells(self) < 0)
        goto done;
    Py_ssize_t e = self->count;
    Entry *entry = entry_at(self, e);
    self->slots[e] = entry->slot = slot;
    entry->keys = own_keys;
    entry->key_count = (uint32_t)(keys.len / sizeof(uint32_t));
    entry->alive = 1;
    memcpy(entry->values, digest, self->num_perm * sizeof(uint32_t));
    /* Counted even if linking fails (out of memory): it may be in some posting lists. */
    self->count++;
    self->live++;
    own_keys = NULL;
    if (link_entry(self, e) < 0)
        goto done;
    result = Py_NewRef(Py_None);
done:
    PyMem_Free(own_keys);
    PyBuffer_Release(&keys);
    return result;
}

#define MAX_BANDS 256
#define PREFETCH_AHEAD 8

/* The exact confirmation of one query: its shingle keys as a set, built at the first
 * candidate that needs it, and the thresholds. */
typedef struct {
    const uint32_t *keys;
    Py_ssize_t count; /* -1: no exact confirmation asked */
    double jaccard, containment;
    Py_ssize_t containment_min;
    HashSet set;
    uint64_t *heap_cells;
} Confirmation;

/* query(signature, least[, keys, jaccard, containment, containment_min]) -> [(matches, slot)]:
 * the live entries sharing at least one band with `signature` whose signatures agree on at
 * least `least` of the num_perm values. With the query's shingle keys (fingerprint()), only
 * those whose shingle sets are close enough, exactly: Jaccard >= `jaccard`, or containment
 * (overlap over the smaller set) >= `containment` with at least `containment_min` shingles in
 * the smaller set; then each comes as (matches, slot, jaccard, containment). */
static PyObject *BandIndex_query(BandIndex *self, PyObject *args)
{
    PyObject *signature;
    int least;
    Py_buffer query_keys = {.buf = NULL, .obj = NULL, .len = 0};
    Confirmation exact = {.count = -1};
    if (!PyArg_ParseTuple(args, "Oi|y*ddn", &signature, &least, &query_keys, &exact.jaccard, &exact.containment,
                          &exact.containment_min))
        return NULL;
    PyObject *found = NULL;
    int32_t stack_close[256], *close = stack_close; /* step 3's entries, and their matches */
    int stack_matches[256], *close_matches = stack_matches;
    Py_ssize_t close_count = 0, close_capacity = 256;
    const uint32_t *digest = digest_of(self, signature);
    int num_perm = self->num_perm, bands = self->bands, rows = self->rows;
    if (digest == NULL)
        goto done;
    if (bands > MAX_BANDS || query_keys.len % sizeof(uint32_t) != 0) {
        PyErr_SetString(PyExc_ValueError, bands > MAX_BANDS ? "too many bands" : "keys must be bytes of 32-bit values");
        goto done;
    }
    if (query_keys.obj != NULL) {
        exact.keys = query_keys.buf;
        exact.count = query_keys.len / sizeof(uint32_t);
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
            if (close_count == close_capacity) { /* a bucket of near-identical posts */
                int32_t *more = PyMem_Malloc(2 * close_capacity * sizeof(int32_t));
                int *more_matches = PyMem_Malloc(2 * close_capacity * sizeof(int));
                if (more == NULL || more_matches == NULL) {
                    PyMem_Free(more);
                    PyMem_Free(more_matches);
                    PyErr_NoMemory();
                    goto done;
                }
                memcpy(more, close, close_count * sizeof(int32_t));
                memcpy(more_matches, close_matches, close_count * sizeof(int));
                if (close != stack_close) {
                    PyMem_Free(close);
                    PyMem_Free(close_matches);
                }
                close = more;
                close_matches = more_matches;
                close_capacity *= 2;
            }
            close[close_count] = postings[k];
            close_matches[close_count++] = matches;
            if (exact.count >= 0)
                for (uint32_t line = 0; line < entry->key_count; line += 16)
                    __builtin_prefetch(entry->keys + line);
        }
    }
    /* 4. the exact confirmation, and the answer. */
    if (close_count > 0 && exact.count >= 0) { /* the query's set of shingle keys */
        size_t capacity = set_capacity(exact.count);
        exact.set.cells = exact.heap_cells = PyMem_Calloc(capacity, sizeof(uint64_t));
        if (exact.set.cells == NULL) {
            PyErr_NoMemory();
            goto done;
        }
        exact.set.mask = capacity - 1;
        for (Py_ssize_t i = 0; i < exact.count; i++)
            hashset_add(&exact.set, exact.keys[i]);
    }
    found = PyList_New(0);
    for (Py_ssize_t j = 0; found != NULL && j < close_count; j++) {
        const Entry *entry = entry_at(self, close[j]);
        PyObject *item;
        if (exact.count < 0) {
            item = Py_BuildValue("iL", close_matches[j], (long long)entry->slot);
        } else {
            Py_ssize_t overlap = 0, mine = exact.count, theirs = entry->key_count;
            for (uint32_t i = 0; i < entry->key_count; i++)
                overlap += hashset_has(&exact.set, entry->keys[i]);
            Py_ssize_t smaller = mine < theirs ? mine : theirs;
            double jaccard = 0.0, containment = 0.0;
            if (smaller > 0) {
                jaccard = (double)overlap / (double)(mine + theirs - overlap);
                containment = (double)overlap / (double)smaller;
            }
            if (jaccard < exact.jaccard && (containment < exact.containment || smaller < exact.containment_min))
                continue;
            item = Py_BuildValue("iLdd", close_matches[j], (long long)entry->slot, jaccard, containment);
        }
        if (item == NULL || PyList_Append(found, item) < 0)
            Py_CLEAR(found);
        Py_XDECREF(item);
    }
done:
    if (close != stack_close) {
        PyMem_Free(close);
        PyMem_Free(close_matches);
    }
    PyMem_Free(exact.heap_cells);
    if (query_keys.obj != NULL)
        PyBuffer_Release(&query_keys);
    return found;
}

/* forget(slot) -> bool: the entry of `slot` is no candidate any more (until compact drops it). */
static PyObject *BandIndex_forget(BandIndex *self, PyObject *arg)
{
    long long slot = PyLong_AsLongLong(arg);
    if (slot == -1 && PyErr_Occurred())
        return NULL;
    Py_ssize_t low = 0, high = self->count;
    while (low < high) {
        Py_ssize_t middle = low + (high - low) / 2;
        if (self->slots[middle] < slot)
            low = middle + 1;
        else
            high = middle;
    }
    Entry *entry = low < self->count && self->slots[low] == slot ? entry_at(self, low) : NULL;
    if (entry != NULL && entry->alive) {
        entry->alive = 0;
        PyMem_Free(entry->keys);
        entry->keys = NULL;
        self->live--;
        Py_RETURN_TRUE;
    }
    Py_RETURN_FALSE;
}

/* compact() -> live entries: drops the forgotten entries and rebuilds the band tables. */
static PyObject *BandIndex_compact(BandIndex *self, PyObject *unused)
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
        return NULL;
    for (Py_ssize_t e = 0; e < kept; e++) {
        if (link_entry(self, e) < 0)
            return NULL;
    }
    return PyLong_FromSsize_t(kept);
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
    if (PyType_Ready(&BandIndexType) < 0)
        return NULL;
    PyObject *module = PyModule_Create(&module_definition);
    if (module == NULL)
        return NULL;
    Py_INCREF(&BandIndexType);
    if (PyModule_AddObject(module, "BandIndex", (PyObject *)&BandIndexType) < 0) {
        Py_DECREF(&BandIndexType);
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
