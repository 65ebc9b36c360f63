/* Accelerators for tornadoservice.wire.jencode (DIRAC's JSON).
 *
 * encode(obj, fallback) -> str
 *     The exact text of the standard library's C encoder configured as jencode configures it
 *     (separators ", " and ": ", ASCII-only, NaN/Infinity literals, no circular check), with
 *     datetime, date and bytes tagged here as jencode._default tags them. Every other object
 *     JSON cannot hold is handed to `fallback` (jencode._default), and what it returns is
 *     encoded in its place.
 *
 * make_object_hook(fallback) -> object_hook
 *     An object_hook for json.JSONDecoder doing what jencode._object_hook does: canonical
 *     "dt"/"date"/"b64" tagged dicts are turned into datetime/date/bytes here, any other dict
 *     with "__dCls" is handed to `fallback` (jencode._object_hook).
 *
 * No JSON text is parsed here: the standard library's decoder does that, and only the short
 * payloads of the tags in their canonical forms are read here (anything else goes to Python).
 *
 * The encoder follows the semantics of CPython 3.11's Modules/_json.c (read, not copied): str,
 * int and float subclasses are written by value (int.__repr__, float.__repr__); lists and
 * tuples are walked live; a dict subclass is written from its items(); an exact dict from a
 * snapshot of its items, which is taken lazily here, just before the first call into Python
 * code that could change it; empty containers are "[]" and "{}" whatever their subclass does;
 * dict keys may be str, float, True/False/None or int; and recursion is bounded by
 * Py_EnterRecursiveCall at the same depths (a datetime, date or bytes counts as the default()
 * call and the dict it returns would).
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <datetime.h>
#include <math.h>
#include <string.h>

#define RECURSION_MESSAGE " while encoding a JSON object"

static PyObject *DCLS_KEY; /* "__dCls", interned */
static PyObject *OBJ_KEY;  /* "obj", interned */

/* ------------------------------------------------------------------------------------------ */
/* Output buffer: ASCII bytes, on the stack while small.                                      */

#define INLINE_CAPACITY 2048

typedef struct {
    char *data;
    Py_ssize_t len;
    Py_ssize_t cap;
    char inline_data[INLINE_CAPACITY];
} Buffer;

static int
buffer_grow(Buffer *b, Py_ssize_t needed)
{
    Py_ssize_t cap = b->cap;
    char *data;

    while (cap < needed) {
        if (cap > PY_SSIZE_T_MAX / 2) {
            PyErr_NoMemory();
            return -1;
        }
        cap *= 2;
    }
    if (b->data == b->inline_data) {
        data = PyMem_Malloc((size_t)cap);
        if (data != NULL) {
            memcpy(data, b->inline_data, (size_t)b->len);
        }
    }
    else {
        data = PyMem_Realloc(b->data, (size_t)cap);
    }
    if (data == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    b->data = data;
    b->cap = cap;
    return 0;
}

/* Room for n more bytes (n is always small: callers work in bounded chunks). */
static inline int
reserve(Buffer *b, Py_ssize_t n)
{
    if (n > b->cap - b->len) {
        return buffer_grow(b, b->len + n);
    }
    return 0;
}

static inline int
write_raw(Buffer *b, const char *text, Py_ssize_t n)
{
    if (reserve(b, n) < 0) {
        return -1;
    }
    memcpy(b->data + b->len, text, (size_t)n);
    b->len += n;
    return 0;
}

#define WRITE_LITERAL(b, literal) write_raw((b), (literal), (Py_ssize_t)(sizeof(literal) - 1))

static inline int
write_char(Buffer *b, char c)
{
    if (reserve(b, 1) < 0) {
        return -1;
    }
    b->data[b->len++] = c;
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Scalars                                                                                    */

/* For each ASCII character: 0 if written as is, else the letter after the backslash ('u' for
 * a \u00XX escape). As json.encoder.encode_basestring_ascii: printable ASCII but '"' and '\\'
 * is kept, everything else is escaped, with lowercase hex. */
static char ESCAPES[128];

static const char HEX_DIGITS[] = "0123456789abcdef";

static inline char *
put_u_escape(char *p, Py_UCS4 c)
{
    *p++ = '\\';
    *p++ = 'u';
    *p++ = HEX_DIGITS[(c >> 12) & 0xf];
    *p++ = HEX_DIGITS[(c >> 8) & 0xf];
    *p++ = HEX_DIGITS[(c >> 4) & 0xf];
    *p++ = HEX_DIGITS[c & 0xf];
    return p;
}

/* At most 12 bytes: a surrogate pair for a character beyond the BMP. */
static inline char *
put_escape(char *p, Py_UCS4 c)
{
    if (c < 128 && ESCAPES[c] != 'u') {
        *p++ = '\\';
        *p++ = ESCAPES[c];
        return p;
    }
    if (c >= 0x10000) {
        p = put_u_escape(p, Py_UNICODE_HIGH_SURROGATE(c));
        c = Py_UNICODE_LOW_SURROGATE(c);
    }
    return put_u_escape(p, c);
}

/* Characters per chunk: a chunk needs at most 12 bytes per character, reserved at once. */
#define STRING_CHUNK 4096

static int
write_string(Buffer *b, PyObject *text)
{
    Py_ssize_t length, i = 0;
    int kind;
    const void *data;

#if PY_VERSION_HEX < 0x030C0000
    if (PyUnicode_READY(text) < 0) {
        return -1;
    }
#endif
    length = PyUnicode_GET_LENGTH(text);
    kind = PyUnicode_KIND(text);
    data = PyUnicode_DATA(text);
    if (write_char(b, '"') < 0) {
        return -1;
    }
    while (i < length) {
        Py_ssize_t end = length - i > STRING_CHUNK ? i + STRING_CHUNK : length;
        char *p;

        if (reserve(b, (end - i) * (kind == PyUnicode_4BYTE_KIND ? 12 : 6)) < 0) {
            return -1;
        }
        p = b->data + b->len;
        if (kind == PyUnicode_1BYTE_KIND) {
            const Py_UCS1 *chars = (const Py_UCS1 *)data;
            for (; i < end; i++) {
                Py_UCS1 c = chars[i];
                if (c < 128 && ESCAPES[c] == 0) {
                    *p++ = (char)c;
                }
                else {
                    p = put_escape(p, c);
                }
            }
        }
        else if (kind == PyUnicode_2BYTE_KIND) {
            const Py_UCS2 *chars = (const Py_UCS2 *)data;
            for (; i < end; i++) {
                Py_UCS2 c = chars[i];
                if (c < 128 && ESCAPES[c] == 0) {
                    *p++ = (char)c;
                }
                else {
                    p = put_escape(p, c);
                }
            }
        }
        else {
            const Py_UCS4 *chars = (const Py_UCS4 *)data;
            for (; i < end; i++) {
                Py_UCS4 c = chars[i];
                if (c < 128 && ESCAPES[c] == 0) {
                    *p++ = (char)c;
                }
                else {
                    p = put_escape(p, c);
                }
            }
        }
        b->len = p - b->data;
    }
    return write_char(b, '"');
}

/* int.__repr__ of any int (subclasses included, without calling Python code). */
static int
write_int(Buffer *b, PyObject *obj)
{
    int overflow;
    long long value = PyLong_AsLongLongAndOverflow(obj, &overflow);
    unsigned long long magnitude;
    char digits[24];
    char *end = digits + sizeof(digits), *p = end;

    if (overflow) {
        Py_ssize_t size;
        const char *text;
        PyObject *repr = PyLong_Type.tp_repr(obj);
        int rc;

        if (repr == NULL) {
            return -1; /* e.g. beyond sys.get_int_max_str_digits() */
        }
        text = PyUnicode_AsUTF8AndSize(repr, &size);
        rc = text == NULL ? -1 : write_raw(b, text, size);
        Py_DECREF(repr);
        return rc;
    }
    if (value == -1 && PyErr_Occurred()) {
        return -1;
    }
    magnitude = value < 0 ? 0ULL - (unsigned long long)value : (unsigned long long)value;
    do {
        *--p = (char)('0' + magnitude % 10);
        magnitude /= 10;
    } while (magnitude != 0);
    if (value < 0) {
        *--p = '-';
    }
    return write_raw(b, p, end - p);
}

/* float.__repr__, or the NaN/Infinity/-Infinity literals (allow_nan). */
static int
write_float(Buffer *b, PyObject *obj)
{
    double value = PyFloat_AS_DOUBLE(obj);
    char *text;
    int rc;

    if (!isfinite(value)) {
        if (value > 0) {
            return WRITE_LITERAL(b, "Infinity");
        }
        if (value < 0) {
            return WRITE_LITERAL(b, "-Infinity");
        }
        return WRITE_LITERAL(b, "NaN");
    }
    text = PyOS_double_to_string(value, 'r', 0, Py_DTSF_ADD_DOT_0, NULL);
    if (text == NULL) {
        return -1;
    }
    rc = write_raw(b, text, (Py_ssize_t)strlen(text));
    PyMem_Free(text);
    return rc;
}

/* ------------------------------------------------------------------------------------------ */
/* Tagged types, written as jencode._default tags them                                        */

static inline char *
put_digits(char *p, int value, int width)
{
    for (int i = width - 1; i >= 0; i--) {
        p[i] = (char)('0' + value % 10);
        value /= 10;
    }
    return p + width;
}

static inline char *
put_date(char *p, PyObject *obj)
{
    p = put_digits(p, PyDateTime_GET_YEAR(obj), 4);
    *p++ = '-';
    p = put_digits(p, PyDateTime_GET_MONTH(obj), 2);
    *p++ = '-';
    return put_digits(p, PyDateTime_GET_DAY(obj), 2);
}

static const char DATETIME_HEAD[] = "{\"__dCls\": \"dt\", \"obj\": \"";
static const char DATE_HEAD[] = "{\"__dCls\": \"date\", \"obj\": \"";
static const char BYTES_HEAD[] = "{\"__dCls\": \"b64\", \"obj\": \"";

/* "YYYY-MM-DD HH:MM:SS": microseconds dropped, tzinfo ignored, as datetime.isoformat(" ",
 * "seconds")[:19]. Subclasses too: their fields, whatever their methods say. */
static int
write_datetime(Buffer *b, PyObject *obj)
{
    char *p;

    if (reserve(b, (Py_ssize_t)sizeof(DATETIME_HEAD) - 1 + 19 + 2) < 0) {
        return -1;
    }
    p = b->data + b->len;
    memcpy(p, DATETIME_HEAD, sizeof(DATETIME_HEAD) - 1);
    p = put_date(p + sizeof(DATETIME_HEAD) - 1, obj);
    *p++ = ' ';
    p = put_digits(p, PyDateTime_DATE_GET_HOUR(obj), 2);
    *p++ = ':';
    p = put_digits(p, PyDateTime_DATE_GET_MINUTE(obj), 2);
    *p++ = ':';
    p = put_digits(p, PyDateTime_DATE_GET_SECOND(obj), 2);
    *p++ = '"';
    *p++ = '}';
    b->len = p - b->data;
    return 0;
}

static int
write_date(Buffer *b, PyObject *obj)
{
    char *p;

    if (reserve(b, (Py_ssize_t)sizeof(DATE_HEAD) - 1 + 10 + 2) < 0) {
        return -1;
    }
    p = b->data + b->len;
    memcpy(p, DATE_HEAD, sizeof(DATE_HEAD) - 1);
    p = put_date(p + sizeof(DATE_HEAD) - 1, obj);
    *p++ = '"';
    *p++ = '}';
    b->len = p - b->data;
    return 0;
}

static const char BASE64_ALPHABET[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Input bytes per chunk (a multiple of 3). */
#define BASE64_CHUNK (3 * 4096)

/* Standard base64 with padding, no newline: binascii.b2a_base64(obj, newline=False). */
static int
write_bytes(Buffer *b, PyObject *obj)
{
    const unsigned char *data = (const unsigned char *)PyBytes_AS_STRING(obj);
    Py_ssize_t size = PyBytes_GET_SIZE(obj), i = 0;
    char *p;

    if (WRITE_LITERAL(b, BYTES_HEAD) < 0) {
        return -1;
    }
    while (size - i >= 3) {
        Py_ssize_t end = i + (size - i > BASE64_CHUNK ? BASE64_CHUNK : (size - i) / 3 * 3);

        if (reserve(b, (end - i) / 3 * 4) < 0) {
            return -1;
        }
        p = b->data + b->len;
        for (; i < end; i += 3) {
            unsigned int triple = ((unsigned int)data[i] << 16) |
                                  ((unsigned int)data[i + 1] << 8) | data[i + 2];
            *p++ = BASE64_ALPHABET[(triple >> 18) & 0x3f];
            *p++ = BASE64_ALPHABET[(triple >> 12) & 0x3f];
            *p++ = BASE64_ALPHABET[(triple >> 6) & 0x3f];
            *p++ = BASE64_ALPHABET[triple & 0x3f];
        }
        b->len = p - b->data;
    }
    if (reserve(b, 4 + 2) < 0) {
        return -1;
    }
    p = b->data + b->len;
    if (size - i == 1) {
        *p++ = BASE64_ALPHABET[data[i] >> 2];
        *p++ = BASE64_ALPHABET[(data[i] & 0x3) << 4];
        *p++ = '=';
        *p++ = '=';
    }
    else if (size - i == 2) {
        *p++ = BASE64_ALPHABET[data[i] >> 2];
        *p++ = BASE64_ALPHABET[((data[i] & 0x3) << 4) | (data[i + 1] >> 4)];
        *p++ = BASE64_ALPHABET[(data[i + 1] & 0xf) << 2];
        *p++ = '=';
    }
    *p++ = '"';
    *p++ = '}';
    b->len = p - b->data;
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Containers                                                                                 */

/* An exact dict being written. Until Python code may run, it is walked in place (no copy);
 * just before any call into Python code, every such dict on the way down is frozen: the
 * items it has left are copied, so that what is written is what a snapshot taken at its
 * start holds, whatever the Python code does to it (the stdlib takes that snapshot up front
 * with PyMapping_Items). The frozen frames are always the outer part of the chain. */
typedef struct DictFrame {
    PyObject *dict;
    Py_ssize_t pos;
    PyObject *rest; /* list of (key, value) still to write, once frozen */
    Py_ssize_t next;
    struct DictFrame *outer;
} DictFrame;

typedef struct {
    Buffer out;
    PyObject *fallback;
    DictFrame *dicts; /* innermost first */
} Encoder;

static int
freeze_dicts(Encoder *e)
{
    for (DictFrame *frame = e->dicts; frame != NULL && frame->rest == NULL;
         frame = frame->outer) {
        PyObject *rest = PyList_New(0), *key, *value;
        Py_ssize_t pos = frame->pos;

        if (rest == NULL) {
            return -1;
        }
        while (PyDict_Next(frame->dict, &pos, &key, &value)) {
            PyObject *item = PyTuple_Pack(2, key, value);
            if (item == NULL || PyList_Append(rest, item) < 0) {
                Py_XDECREF(item);
                Py_DECREF(rest);
                return -1;
            }
            Py_DECREF(item);
        }
        frame->rest = rest;
        frame->next = 0;
    }
    return 0;
}

static int write_obj(Encoder *e, PyObject *obj);

static int
write_key(Buffer *b, PyObject *key)
{
    int rc;

    if (PyUnicode_Check(key)) {
        return write_string(b, key);
    }
    if (PyFloat_Check(key)) {
        if (write_char(b, '"') < 0 || write_float(b, key) < 0) {
            return -1;
        }
        return write_char(b, '"');
    }
    if (key == Py_True) {
        return WRITE_LITERAL(b, "\"true\"");
    }
    if (key == Py_False) {
        return WRITE_LITERAL(b, "\"false\"");
    }
    if (key == Py_None) {
        return WRITE_LITERAL(b, "\"null\"");
    }
    if (PyLong_Check(key)) {
        if (write_char(b, '"') < 0) {
            return -1;
        }
        rc = write_int(b, key);
        return rc < 0 ? -1 : write_char(b, '"');
    }
    PyErr_Format(PyExc_TypeError, "keys must be str, int, float, bool or None, not %.100s",
                 Py_TYPE(key)->tp_name);
    return -1;
}

/* Borrowed key and value: the caller holds them. */
static int
write_item(Encoder *e, PyObject *key, PyObject *value, int first)
{
    if (!first && WRITE_LITERAL(&e->out, ", ") < 0) {
        return -1;
    }
    if (write_key(&e->out, key) < 0 || WRITE_LITERAL(&e->out, ": ") < 0) {
        return -1;
    }
    return write_obj(e, value);
}

static int
write_dict_subclass(Encoder *e, PyObject *dict)
{
    PyObject *items;
    Py_ssize_t i;

    if (freeze_dicts(e) < 0) {
        return -1;
    }
    items = PyMapping_Items(dict); /* calls items(): Python code */
    if (items == NULL) {
        return -1;
    }
    for (i = 0; i < PyList_GET_SIZE(items); i++) {
        PyObject *item = PyList_GET_ITEM(items, i);
        int rc;

        if (!PyTuple_Check(item) || PyTuple_GET_SIZE(item) != 2) {
            PyErr_SetString(PyExc_ValueError, "items must return 2-tuples");
            Py_DECREF(items);
            return -1;
        }
        Py_INCREF(item);
        rc = write_item(e, PyTuple_GET_ITEM(item, 0), PyTuple_GET_ITEM(item, 1), i == 0);
        Py_DECREF(item);
        if (rc < 0) {
            Py_DECREF(items);
            return -1;
        }
    }
    Py_DECREF(items);
    return 0;
}

static int
write_exact_dict(Encoder *e, PyObject *dict)
{
    DictFrame frame = {dict, 0, NULL, 0, e->dicts};
    PyObject *key, *value;
    int first = 1, rc = 0;

    e->dicts = &frame;
    for (;;) {
        if (frame.rest == NULL) {
            if (!PyDict_Next(dict, &frame.pos, &key, &value)) {
                break;
            }
        }
        else {
            PyObject *item;
            if (frame.next >= PyList_GET_SIZE(frame.rest)) {
                break;
            }
            item = PyList_GET_ITEM(frame.rest, frame.next);
            frame.next++;
            key = PyTuple_GET_ITEM(item, 0);
            value = PyTuple_GET_ITEM(item, 1);
        }
        /* Held while written: Python code run meanwhile may drop them from the dict. */
        Py_INCREF(key);
        Py_INCREF(value);
        rc = write_item(e, key, value, first);
        Py_DECREF(key);
        Py_DECREF(value);
        if (rc < 0) {
            break;
        }
        first = 0;
    }
    e->dicts = frame.outer;
    Py_XDECREF(frame.rest);
    return rc;
}

static int
write_dict(Encoder *e, PyObject *dict)
{
    int rc;

    if (PyDict_GET_SIZE(dict) == 0) {
        return WRITE_LITERAL(&e->out, "{}"); /* even for a subclass, as the stdlib does */
    }
    if (write_char(&e->out, '{') < 0) {
        return -1;
    }
    rc = PyDict_CheckExact(dict) ? write_exact_dict(e, dict) : write_dict_subclass(e, dict);
    return rc < 0 ? -1 : write_char(&e->out, '}');
}

/* An exact list or tuple, walked live (a list may change while Python code runs, as in the
 * stdlib, which walks it live too). */
static int
write_sequence(Encoder *e, PyObject *seq)
{
    Py_ssize_t i;

    if (PySequence_Fast_GET_SIZE(seq) == 0) {
        return WRITE_LITERAL(&e->out, "[]");
    }
    if (write_char(&e->out, '[') < 0) {
        return -1;
    }
    for (i = 0; i < PySequence_Fast_GET_SIZE(seq); i++) {
        PyObject *item = PySequence_Fast_GET_ITEM(seq, i);
        int rc;

        if (i > 0 && WRITE_LITERAL(&e->out, ", ") < 0) {
            return -1;
        }
        Py_INCREF(item);
        rc = write_obj(e, item);
        Py_DECREF(item);
        if (rc < 0) {
            return -1;
        }
    }
    return write_char(&e->out, ']');
}

/* A list or tuple; a subclass is written from list(iter(obj)), as PySequence_Fast makes it
 * for the stdlib (its __iter__ is Python code). */
static int
write_list(Encoder *e, PyObject *seq)
{
    PyObject *items;
    int rc;

    if (PyList_CheckExact(seq) || PyTuple_CheckExact(seq)) {
        return write_sequence(e, seq);
    }
    if (freeze_dicts(e) < 0) {
        return -1;
    }
    items = PySequence_Fast(seq, "_iterencode_list needs a sequence");
    if (items == NULL) {
        return -1;
    }
    rc = write_sequence(e, items);
    Py_DECREF(items);
    return rc;
}

/* A datetime, date or bytes: in the stdlib encoder the result of default() is written inside
 * one Py_EnterRecursiveCall, and the dict it is inside another; the same depth is needed here,
 * so that a structure nested to the limit fails (or not) on both paths alike. */
static int
write_tagged(Encoder *e, PyObject *obj, int (*writer)(Buffer *, PyObject *))
{
    int rc;

    if (Py_EnterRecursiveCall(RECURSION_MESSAGE)) {
        return -1;
    }
    if (Py_EnterRecursiveCall(RECURSION_MESSAGE)) {
        Py_LeaveRecursiveCall();
        return -1;
    }
    rc = writer(&e->out, obj);
    Py_LeaveRecursiveCall();
    Py_LeaveRecursiveCall();
    return rc;
}

static int
write_fallback(Encoder *e, PyObject *obj)
{
    PyObject *replacement;
    int rc;

    if (freeze_dicts(e) < 0) {
        return -1;
    }
    replacement = PyObject_CallOneArg(e->fallback, obj);
    if (replacement == NULL) {
        return -1;
    }
    if (Py_EnterRecursiveCall(RECURSION_MESSAGE)) {
        Py_DECREF(replacement);
        return -1;
    }
    rc = write_obj(e, replacement);
    Py_LeaveRecursiveCall();
    Py_DECREF(replacement);
    return rc;
}

/* The order of the checks is the stdlib encoder's. */
static int
write_obj(Encoder *e, PyObject *obj)
{
    int rc;

    if (PyUnicode_Check(obj)) {
        return write_string(&e->out, obj);
    }
    if (obj == Py_None) {
        return WRITE_LITERAL(&e->out, "null");
    }
    if (obj == Py_True) {
        return WRITE_LITERAL(&e->out, "true");
    }
    if (obj == Py_False) {
        return WRITE_LITERAL(&e->out, "false");
    }
    if (PyLong_Check(obj)) {
        return write_int(&e->out, obj);
    }
    if (PyFloat_Check(obj)) {
        return write_float(&e->out, obj);
    }
    if (PyList_Check(obj) || PyTuple_Check(obj)) {
        if (Py_EnterRecursiveCall(RECURSION_MESSAGE)) {
            return -1;
        }
        rc = write_list(e, obj);
        Py_LeaveRecursiveCall();
        return rc;
    }
    if (PyDict_Check(obj)) {
        if (Py_EnterRecursiveCall(RECURSION_MESSAGE)) {
            return -1;
        }
        rc = write_dict(e, obj);
        Py_LeaveRecursiveCall();
        return rc;
    }
    /* jencode._default's order: datetime before date (a subclass of it). A bytes subclass
     * goes to the fallback, which gives a JSerializable mixin precedence. */
    if (PyDateTime_Check(obj)) {
        return write_tagged(e, obj, write_datetime);
    }
    if (PyDate_Check(obj)) {
        return write_tagged(e, obj, write_date);
    }
    if (PyBytes_CheckExact(obj)) {
        return write_tagged(e, obj, write_bytes);
    }
    return write_fallback(e, obj);
}

PyDoc_STRVAR(encode_doc,
"encode(obj, fallback, /)\n--\n\n"
"obj as DIRAC's JSON text: the bytes of json's C encoder with separators ', '/': ',\n"
"ensure_ascii, allow_nan and no circular check; datetime, date and bytes tagged with\n"
"__dCls; fallback(o) called for any other object JSON cannot hold, its result encoded.");

static PyObject *
speedups_encode(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t nargs)
{
    Encoder e;
    PyObject *result = NULL;

    if (nargs != 2) {
        PyErr_Format(PyExc_TypeError, "encode() takes exactly 2 arguments (%zd given)", nargs);
        return NULL;
    }
    e.out.data = e.out.inline_data;
    e.out.len = 0;
    e.out.cap = INLINE_CAPACITY;
    e.fallback = args[1];
    e.dicts = NULL;
    /* The stdlib encoder object is called through tp_call, which counts one level of
     * recursion: so does this call, and both paths fail at the same depth. */
    if (Py_EnterRecursiveCall(RECURSION_MESSAGE)) {
        return NULL;
    }
    if (write_obj(&e, args[0]) == 0) {
        result = PyUnicode_New(e.out.len, 127);
        if (result != NULL) {
            memcpy(PyUnicode_1BYTE_DATA(result), e.out.data, (size_t)e.out.len);
        }
    }
    Py_LeaveRecursiveCall();
    if (e.out.data != e.out.inline_data) {
        PyMem_Free(e.out.data);
    }
    return result;
}

/* ------------------------------------------------------------------------------------------ */
/* Decoding: json's object_hook for the tagged types                                          */

/* n ASCII digits as a number, or -1. */
static inline int
read_digits(const unsigned char *s, int n)
{
    int value = 0;

    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return -1;
        }
        value = value * 10 + (s[i] - '0');
    }
    return value;
}

static int
valid_date(int year, int month, int day)
{
    static const int days_in_month[] = {0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int days;

    if (year < 1 || year > 9999 || month < 1 || month > 12 || day < 1) {
        return 0;
    }
    days = days_in_month[month];
    if (month == 2 && year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)) {
        days = 29;
    }
    return day <= days;
}

/* "YYYY-MM-DD" at s, valid, or 0. */
static int
read_date(const unsigned char *s, int *year, int *month, int *day)
{
    *year = read_digits(s, 4);
    *month = read_digits(s + 5, 2);
    *day = read_digits(s + 8, 2);
    return s[4] == '-' && s[7] == '-' && valid_date(*year, *month, *day);
}

/* The parsers below return 1 with *result set, 0 when the text is not in the canonical form
 * they know (the hook then decides, with its own error or leniency), or -1 on error. */

static int
parse_datetime(PyObject *text, PyObject **result)
{
    const unsigned char *s = PyUnicode_1BYTE_DATA(text);
    int year, month, day, hour, minute, second;

    if (PyUnicode_GET_LENGTH(text) != 19 || !read_date(s, &year, &month, &day) ||
        s[10] != ' ' || s[13] != ':' || s[16] != ':') {
        return 0;
    }
    hour = read_digits(s + 11, 2);
    minute = read_digits(s + 14, 2);
    second = read_digits(s + 17, 2);
    if (hour < 0 || hour > 23 || minute < 0 || minute > 59 || second < 0 || second > 59) {
        return 0;
    }
    *result = PyDateTimeAPI->DateTime_FromDateAndTime(year, month, day, hour, minute, second, 0,
                                                      Py_None, PyDateTimeAPI->DateTimeType);
    return *result == NULL ? -1 : 1;
}

static int
parse_date(PyObject *text, PyObject **result)
{
    int year, month, day;

    if (PyUnicode_GET_LENGTH(text) != 10 ||
        !read_date(PyUnicode_1BYTE_DATA(text), &year, &month, &day)) {
        return 0;
    }
    *result = PyDateTimeAPI->Date_FromDate(year, month, day, PyDateTimeAPI->DateType);
    return *result == NULL ? -1 : 1;
}

static unsigned char BASE64_VALUES[256]; /* 0xff: not in the alphabet */

/* Strict standard base64 (binascii.a2b_base64(text, strict_mode=True)): length a multiple
 * of 4, padding only at the end; the unused bits of the last character are ignored. */
static int
parse_base64(PyObject *text, PyObject **result)
{
    const unsigned char *s = PyUnicode_1BYTE_DATA(text);
    Py_ssize_t length = PyUnicode_GET_LENGTH(text), padding = 0, full, i;
    unsigned char *out;
    PyObject *bytes;

    if (length % 4 != 0) {
        return 0;
    }
    if (length > 0 && s[length - 1] == '=') {
        padding = s[length - 2] == '=' ? 2 : 1;
    }
    bytes = PyBytes_FromStringAndSize(NULL, length / 4 * 3 - padding);
    if (bytes == NULL) {
        return -1;
    }
    out = (unsigned char *)PyBytes_AS_STRING(bytes);
    full = padding ? length - 4 : length;
    for (i = 0; i < full; i += 4) {
        unsigned int a = BASE64_VALUES[s[i]], b = BASE64_VALUES[s[i + 1]],
                     c = BASE64_VALUES[s[i + 2]], d = BASE64_VALUES[s[i + 3]];
        if ((a | b | c | d) > 63) { /* 0xff: not in the alphabet, '=' included */
            Py_DECREF(bytes);
            return 0;
        }
        *out++ = (unsigned char)((a << 2) | (b >> 4));
        *out++ = (unsigned char)((b << 4) | (c >> 2));
        *out++ = (unsigned char)((c << 6) | d);
    }
    if (padding) {
        unsigned int a = BASE64_VALUES[s[i]], b = BASE64_VALUES[s[i + 1]];
        unsigned int c = padding == 1 ? BASE64_VALUES[s[i + 2]] : 0;
        if ((a | b | c) > 63) {
            Py_DECREF(bytes);
            return 0;
        }
        *out++ = (unsigned char)((a << 2) | (b >> 4));
        if (padding == 1) {
            *out++ = (unsigned char)((b << 4) | (c >> 2));
        }
    }
    *result = bytes;
    return 1;
}

static inline int
ascii_equals(PyObject *text, const char *expected, Py_ssize_t length)
{
    return PyUnicode_GET_LENGTH(text) == length && PyUnicode_IS_ASCII(text) &&
           memcmp(PyUnicode_1BYTE_DATA(text), expected, (size_t)length) == 0;
}

/* json's object_hook, bound to `fallback` (jencode._object_hook) as its self: a dict without
 * "__dCls" is returned as is, a canonical dt/date/b64 is built here, and anything else (other
 * tags, other spellings, bad payloads) is fallback(dict), which gives the result or the error. */
static PyObject *
object_hook(PyObject *fallback, PyObject *dict)
{
    PyObject *tag, *payload, *result = NULL;
    int (*parse)(PyObject *, PyObject **) = NULL;

    if (!PyDict_CheckExact(dict)) {
        return PyObject_CallOneArg(fallback, dict);
    }
    tag = PyDict_GetItemWithError(dict, DCLS_KEY);
    if (tag == NULL) {
        return PyErr_Occurred() ? NULL : Py_NewRef(dict);
    }
    if (PyUnicode_CheckExact(tag)) {
        if (ascii_equals(tag, "dt", 2)) {
            parse = parse_datetime;
        }
        else if (ascii_equals(tag, "date", 4)) {
            parse = parse_date;
        }
        else if (ascii_equals(tag, "b64", 3)) {
            parse = parse_base64;
        }
    }
    if (parse != NULL) {
        payload = PyDict_GetItemWithError(dict, OBJ_KEY);
        if (payload == NULL && PyErr_Occurred()) {
            return NULL;
        }
        if (payload != NULL && PyUnicode_CheckExact(payload) && PyUnicode_IS_ASCII(payload) &&
            parse(payload, &result) != 0) {
            return result; /* NULL on error */
        }
    }
    return PyObject_CallOneArg(fallback, dict);
}

static PyMethodDef object_hook_def = {"object_hook", object_hook, METH_O, NULL};

PyDoc_STRVAR(make_object_hook_doc,
"make_object_hook(fallback, /)\n--\n\n"
"An object_hook for json.JSONDecoder: canonical dt/date/b64 tagged dicts become\n"
"datetime/date/bytes here; any other dict with __dCls is fallback(dict); others pass.");

static PyObject *
speedups_make_object_hook(PyObject *Py_UNUSED(module), PyObject *fallback)
{
    if (!PyCallable_Check(fallback)) {
        PyErr_SetString(PyExc_TypeError, "make_object_hook() needs a callable");
        return NULL;
    }
    return PyCFunction_New(&object_hook_def, fallback);
}

/* ------------------------------------------------------------------------------------------ */

static PyMethodDef speedups_methods[] = {
    {"encode", (PyCFunction)(void (*)(void))speedups_encode, METH_FASTCALL, encode_doc},
    {"make_object_hook", speedups_make_object_hook, METH_O, make_object_hook_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef speedups_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "tornadoservice.wire._speedups",
    .m_doc = "C accelerators of tornadoservice.wire.jencode.",
    .m_size = -1,
    .m_methods = speedups_methods,
};

PyMODINIT_FUNC
PyInit__speedups(void)
{
    int c;

    for (c = 0; c < 128; c++) {
        ESCAPES[c] = (c < ' ' || c == 0x7f) ? 'u' : 0;
    }
    ESCAPES['"'] = '"';
    ESCAPES['\\'] = '\\';
    ESCAPES['\b'] = 'b';
    ESCAPES['\f'] = 'f';
    ESCAPES['\n'] = 'n';
    ESCAPES['\r'] = 'r';
    ESCAPES['\t'] = 't';
    memset(BASE64_VALUES, 0xff, sizeof(BASE64_VALUES));
    for (c = 0; c < 64; c++) {
        BASE64_VALUES[(unsigned char)BASE64_ALPHABET[c]] = (unsigned char)c;
    }

    PyDateTime_IMPORT;
    if (PyDateTimeAPI == NULL) {
        return NULL;
    }
    if (DCLS_KEY == NULL && (DCLS_KEY = PyUnicode_InternFromString("__dCls")) == NULL) {
        return NULL;
    }
    if (OBJ_KEY == NULL && (OBJ_KEY = PyUnicode_InternFromString("obj")) == NULL) {
        return NULL;
    }
    return PyModule_Create(&speedups_module);
}
