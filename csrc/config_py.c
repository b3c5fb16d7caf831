/* Binding: _engine.load_config(kind, source, filename=None) -> dict.
 *
 * kind 'path' (str / os.PathLike), 'text' (str / bytes) or 'dict' (a dict;
 * converted to the same node tree, positions 0). The result is plain nested
 * dicts/lists/scalars with every default filled. Problems raise
 * lpot.ConfigError whose message has one `file:line:col: path: message` line
 * per problem and whose `.errors` is a list of (line, column, path, message). */
#include "module.h"

#include "config.h"
#include "config_py.h"
#include "errors.h"

#define GIL_RELEASE_TEXT_BYTES (64 * 1024)

/* ---- dict -> input nodes ----------------------------------------------------- */

typedef struct {
    lpot_config_t *cfg;
    char path[512];
    bool stop;   /* node limit hit or out of memory */
    bool nomem;
} conv_t;

static lpot_node_t *conv_node(conv_t *c, lpot_node_kind_t kind)
{
    lpot_node_t *n = lpot_config_new_node(c->cfg, kind);
    if (n == NULL) {
        c->stop = true;
        if (lpot_config_error_count(c->cfg) == 0)
            c->nomem = true;
    }
    return n;
}

static lpot_node_t *conv_null_with_error(conv_t *c, const char *fmt, PyObject *obj)
{
    PyObject *r = PyObject_Repr(obj);
    const char *rs = r ? PyUnicode_AsUTF8(r) : NULL;
    if (rs == NULL)
        PyErr_Clear();
    char shown[80];
    snprintf(shown, sizeof shown, "%.60s%s", rs ? rs : "?", rs && strlen(rs) > 60 ? "..." : "");
    lpot_config_add_error(c->cfg, 0, 0, c->path, fmt, Py_TYPE(obj)->tp_name, shown);
    Py_XDECREF(r);
    return conv_node(c, LPOT_NODE_NULL);
}

static bool conv_text(conv_t *c, PyObject *s, const char **out, size_t *len)
{
    Py_ssize_t n;
    const char *u = PyUnicode_AsUTF8AndSize(s, &n);
    if (u == NULL) {
        PyErr_Clear();
        lpot_config_add_error(c->cfg, 0, 0, c->path, "text that is not valid Unicode");
        return false;
    }
    *out = lpot_config_strdup(c->cfg, u, (size_t)n);
    *len = (size_t)n;
    if (*out == NULL) {
        c->stop = c->nomem = true;
        return false;
    }
    return true;
}

static lpot_node_t *py_to_node(conv_t *c, PyObject *o, unsigned depth)
{
    if (c->stop)
        return NULL;
    if (depth > 64) {
        lpot_config_add_error(c->cfg, 0, 0, c->path,
                              "nested more than 64 levels deep (a dict that contains itself?)");
        c->stop = true;
        return NULL;
    }
    lpot_node_t *n;
    if (o == Py_None)
        return conv_node(c, LPOT_NODE_NULL);
    if (PyBool_Check(o)) {
        if ((n = conv_node(c, LPOT_NODE_BOOL)))
            n->v.b = o == Py_True;
        return n;
    }
    if (PyLong_Check(o)) {
        int overflow;
        long long v = PyLong_AsLongLongAndOverflow(o, &overflow);
        if (overflow)
            return conv_null_with_error(c, "%s %s is out of the 64-bit integer range", o);
        if (v == -1 && PyErr_Occurred()) {
            PyErr_Clear();
            return conv_null_with_error(c, "%s %s cannot be read as an integer", o);
        }
        if ((n = conv_node(c, LPOT_NODE_INT)))
            n->v.i = v;
        return n;
    }
    if (PyFloat_Check(o)) {
        if ((n = conv_node(c, LPOT_NODE_FLOAT)))
            n->v.f = PyFloat_AS_DOUBLE(o);
        return n;
    }
    if (PyUnicode_Check(o)) {
        if ((n = conv_node(c, LPOT_NODE_STR)) && !conv_text(c, o, &n->str, &n->len))
            n->kind = LPOT_NODE_NULL;
        return n;
    }
    if (PyDict_Check(o)) {
        Py_ssize_t size = PyDict_Size(o), pos = 0, i = 0;
        PyObject *k, *val;
        if ((n = conv_node(c, LPOT_NODE_MAP)) == NULL)
            return NULL;
        if (lpot_config_set_items(c->cfg, n, (size_t)size) != LPOT_OK) {
            c->stop = c->nomem = true;
            return NULL;
        }
        while (PyDict_Next(o, &pos, &k, &val) && i < size) {
            size_t old = strlen(c->path);
            lpot_node_t *kn = conv_node(c, LPOT_NODE_STR);
            if (kn == NULL)
                return NULL;
            if (!PyUnicode_Check(k)) {
                conv_null_with_error(c, "a key must be a string, got %s %s", k);
                kn->str = "?";
                kn->len = 1;
            } else if (!conv_text(c, k, &kn->str, &kn->len)) {
                if (c->stop)
                    return NULL;
                kn->str = "?";
                kn->len = 1;
            }
            lpot_path_key(c->path, sizeof c->path, kn->str, kn->len);
            Py_INCREF(val);
            lpot_node_t *vn = py_to_node(c, val, depth + 1);
            Py_DECREF(val);
            c->path[old] = '\0';
            if (vn == NULL)
                return NULL;
            n->items[2 * i] = kn;
            n->items[2 * i + 1] = vn;
            i++;
        }
        n->n = (size_t)i;
        return n;
    }
    if (PyList_Check(o) || PyTuple_Check(o)) {
        PyObject *seq = PySequence_Fast(o, "expected a list");
        if (seq == NULL)
            return NULL;
        Py_ssize_t size = PySequence_Fast_GET_SIZE(seq);
        n = conv_node(c, LPOT_NODE_SEQ);
        if (n && lpot_config_set_items(c->cfg, n, (size_t)size) != LPOT_OK) {
            c->stop = c->nomem = true;
            n = NULL;
        }
        for (Py_ssize_t i = 0; n && i < size; i++) {
            size_t old = strlen(c->path);
            lpot_path_index(c->path, sizeof c->path, (size_t)i);
            PyObject *it = PySequence_Fast_GET_ITEM(seq, i);
            Py_INCREF(it);
            lpot_node_t *in = py_to_node(c, it, depth + 1);
            Py_DECREF(it);
            c->path[old] = '\0';
            if (in == NULL)
                n = NULL;
            else
                n->items[i] = in;
        }
        Py_DECREF(seq);
        return n;
    }
    return conv_null_with_error(c, "unsupported value of type '%s' (%s): use dicts, lists, "
                                   "strings, numbers, booleans or None", o);
}

/* ---- output nodes -> Python ------------------------------------------------------- */

static PyObject *node_to_py(const lpot_node_t *n)
{
    switch (n->kind) {
    case LPOT_NODE_NULL: Py_RETURN_NONE;
    case LPOT_NODE_BOOL: return PyBool_FromLong(n->v.b);
    case LPOT_NODE_INT: return PyLong_FromLongLong(n->v.i);
    case LPOT_NODE_FLOAT: return PyFloat_FromDouble(n->v.f);
    case LPOT_NODE_STR:
    case LPOT_NODE_PLAIN: return PyUnicode_DecodeUTF8(n->str, (Py_ssize_t)n->len, "replace");
    case LPOT_NODE_SEQ: {
        PyObject *l = PyList_New((Py_ssize_t)n->n);
        for (size_t i = 0; l && i < n->n; i++) {
            PyObject *it = node_to_py(n->items[i]);
            if (it == NULL)
                Py_CLEAR(l);
            else
                PyList_SET_ITEM(l, (Py_ssize_t)i, it);
        }
        return l;
    }
    case LPOT_NODE_MAP: {
        PyObject *d = PyDict_New();
        for (size_t i = 0; d && i < n->n; i++) {
            const lpot_node_t *k = n->items[2 * i];
            PyObject *ks = PyUnicode_DecodeUTF8(k->str, (Py_ssize_t)k->len, "replace");
            PyObject *vs = ks ? node_to_py(n->items[2 * i + 1]) : NULL;
            if (vs == NULL || PyDict_SetItem(d, ks, vs) < 0)
                Py_CLEAR(d);
            Py_XDECREF(ks);
            Py_XDECREF(vs);
        }
        return d;
    }
    }
    Py_RETURN_NONE;
}

/* ---- regex check: re.compile ---------------------------------------------------- */

typedef struct {
    PyObject *compile, *error; /* re.compile, re.error */
} regex_ctx;

/* tuning.strategy.name outside the engine's strategies: accepted when a
 * Python strategy of that name is registered (lpot.strategy.STRATEGIES). */
static int choice_check(void *ctx, const char *path, const char *value)
{
    (void)ctx;
    if (strcmp(path, "tuning.strategy.name") != 0)
        return 1;
    PyObject *mod = PyImport_ImportModule("lpot.strategy");
    PyObject *reg = mod ? PyObject_GetAttrString(mod, "STRATEGIES") : NULL;
    Py_XDECREF(mod);
    if (reg == NULL)
        return -1;
    PyObject *key = PyUnicode_FromString(value);
    int r = key ? PySequence_Contains(reg, key) : -1;
    Py_XDECREF(key);
    Py_DECREF(reg);
    return r < 0 ? -1 : r ? 0 : 1;
}

static int regex_check(void *ctx, const char *pattern, char *msg, size_t msgsz)
{
    regex_ctx *rc = ctx;
    PyObject *r = PyObject_CallFunction(rc->compile, "s", pattern);
    if (r != NULL) {
        Py_DECREF(r);
        return 0;
    }
    /* re.error (and ValueError / OverflowError for odd patterns) is the
     * user's problem; anything else is ours */
    if (!PyErr_ExceptionMatches(rc->error) && !PyErr_ExceptionMatches(PyExc_ValueError) &&
        !PyErr_ExceptionMatches(PyExc_OverflowError) &&
        !PyErr_ExceptionMatches(PyExc_RecursionError))
        return -1;
    PyObject *type, *exc, *tb;
    PyErr_Fetch(&type, &exc, &tb);
    PyErr_NormalizeException(&type, &exc, &tb);
    PyObject *s = exc ? PyObject_Str(exc) : NULL;
    const char *cs = s ? PyUnicode_AsUTF8(s) : NULL;
    snprintf(msg, msgsz, "%s", cs ? cs : "invalid pattern");
    if (cs == NULL)
        PyErr_Clear();
    Py_XDECREF(s);
    Py_XDECREF(type);
    Py_XDECREF(exc);
    Py_XDECREF(tb);
    return 1;
}

/* ---- errors -> ConfigError ----------------------------------------------------------- */

static PyObject *raise_errors(lpot_state *st, const lpot_config_t *cfg, const char *filename)
{
    size_t n = lpot_config_error_count(cfg);
    PyObject *list = PyList_New(0), *lines = PyList_New(0), *msg = NULL, *sep = NULL;
    if (list == NULL || lines == NULL)
        goto cleanup;
    for (size_t i = 0; i < n; i++) {
        const lpot_config_error_t *e = lpot_config_error(cfg, i);
        /* messages quote user text and may be cut mid-character: decode leniently */
        PyObject *path = PyUnicode_DecodeUTF8(e->path, (Py_ssize_t)strlen(e->path), "replace");
        PyObject *m = PyUnicode_DecodeUTF8(e->msg, (Py_ssize_t)strlen(e->msg), "replace");
        PyObject *t = path && m ? Py_BuildValue("(IIOO)", e->line, e->col, path, m) : NULL;
        PyObject *line = NULL;
        if (t && e->line)
            line = PyUnicode_FromFormat("%s:%u:%u: %U%s%U", filename, e->line, e->col, path,
                                        e->path[0] ? ": " : "", m);
        else if (t)
            line = PyUnicode_FromFormat("%s: %U%s%U", filename, path, e->path[0] ? ": " : "", m);
        int bad = line == NULL || PyList_Append(list, t) < 0 || PyList_Append(lines, line) < 0;
        Py_XDECREF(path);
        Py_XDECREF(m);
        Py_XDECREF(t);
        Py_XDECREF(line);
        if (bad)
            goto cleanup;
    }
    if (lpot_config_errors_dropped(cfg)) {
        PyObject *more = PyUnicode_FromFormat("%s: ... and %zu more problems", filename,
                                              lpot_config_errors_dropped(cfg));
        int bad = more == NULL || PyList_Append(lines, more) < 0;
        Py_XDECREF(more);
        if (bad)
            goto cleanup;
    }
    sep = PyUnicode_FromString("\n");
    if (sep == NULL || (msg = PyUnicode_Join(sep, lines)) == NULL)
        goto cleanup;
    lpot_raise_config(st, msg, list);
cleanup:
    Py_XDECREF(list);
    Py_XDECREF(lines);
    Py_XDECREF(msg);
    Py_XDECREF(sep);
    return NULL;
}

/* ---- load_config ------------------------------------------------------------------- */

PyDoc_STRVAR(load_config_doc,
"load_config(kind, source, filename=None) -> dict\n\n"
"Parse and validate an LPOT 1.x configuration. kind: 'path' (source is a\n"
"path), 'text' (str or bytes of YAML) or 'dict'. filename names the source\n"
"in messages (default: the path, '<string>' or '<dict>'). Returns plain\n"
"dicts/lists with every default filled; raises lpot.ConfigError listing\n"
"every problem as 'file:line:col: path: message' with .errors =\n"
"[(line, column, path, message), ...].");

static PyObject *load_config(PyObject *module, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"kind", "source", "filename", NULL};
    lpot_state *st = lpot_state_from_module(module);
    const char *kind, *filename = NULL;
    PyObject *source, *fsbytes = NULL, *result = NULL, *re = NULL;
    regex_ctx rc = {NULL, NULL};
    lpot_config_t *cfg = NULL;
    lpot_status_t s = LPOT_OK;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "sO|z:load_config", kwlist, &kind, &source,
                                     &filename))
        return NULL;
    cfg = lpot_config_create(NULL);
    if (cfg == NULL)
        return PyErr_NoMemory();
    if (strcmp(kind, "path") == 0) {
        if (!PyUnicode_FSConverter(source, &fsbytes))
            goto cleanup;
        const char *p = PyBytes_AS_STRING(fsbytes);
        if (filename == NULL)
            filename = p;
        Py_BEGIN_ALLOW_THREADS
        s = lpot_config_parse_file(cfg, p);
        Py_END_ALLOW_THREADS
    } else if (strcmp(kind, "text") == 0) {
        const char *text;
        Py_ssize_t len;
        if (PyBytes_Check(source)) {
            text = PyBytes_AS_STRING(source);
            len = PyBytes_GET_SIZE(source);
        } else if (PyUnicode_Check(source)) {
            text = PyUnicode_AsUTF8AndSize(source, &len);
            if (text == NULL)
                goto cleanup;
        } else {
            lpot_raise(st, LPOT_ERR_INVALID, "load_config: text must be str or bytes, not %s",
                       Py_TYPE(source)->tp_name);
            goto cleanup;
        }
        if (filename == NULL)
            filename = "<string>";
        if ((size_t)len >= GIL_RELEASE_TEXT_BYTES) {
            Py_BEGIN_ALLOW_THREADS
            s = lpot_config_parse(cfg, text, (size_t)len);
            Py_END_ALLOW_THREADS
        } else {
            s = lpot_config_parse(cfg, text, (size_t)len);
        }
    } else if (strcmp(kind, "dict") == 0) {
        if (filename == NULL)
            filename = "<dict>";
        if (!PyDict_Check(source)) {
            lpot_config_add_error(cfg, 0, 0, "",
                                  "expected a dict at the top (keys such as 'model'), got %s",
                                  Py_TYPE(source)->tp_name);
            s = LPOT_ERR_CONFIG;
        } else {
            conv_t c = {.cfg = cfg};
            lpot_node_t *root = py_to_node(&c, source, 0);
            if (PyErr_Occurred())
                goto cleanup;
            if (c.nomem) {
                PyErr_NoMemory();
                goto cleanup;
            }
            lpot_config_set_input(cfg, root);
            s = c.stop ? LPOT_ERR_CONFIG : LPOT_OK;
        }
    } else {
        lpot_raise(st, LPOT_ERR_INVALID, "load_config: kind must be 'path', 'text' or 'dict', "
                   "got '%s'", kind);
        goto cleanup;
    }
    if (s == LPOT_OK || (s == LPOT_ERR_CONFIG && lpot_config_input(cfg) != NULL &&
                         lpot_config_input(cfg)->kind == LPOT_NODE_MAP)) {
        /* a complete tree with problems (duplicate keys, dict values) is
         * still validated: every problem is reported at once */
        re = PyImport_ImportModule("re");
        rc.compile = re ? PyObject_GetAttrString(re, "compile") : NULL;
        rc.error = rc.compile ? PyObject_GetAttrString(re, "error") : NULL;
        if (rc.error == NULL)
            goto cleanup;
        lpot_config_hooks_t hooks = {.regex = regex_check, .choice = choice_check, .ctx = &rc};
        lpot_status_t v = lpot_config_validate_hooks(cfg, &hooks);
        if (v != LPOT_OK)
            s = v;
    }
    if (s == LPOT_ERR_CONFIG)
        raise_errors(st, cfg, filename);
    else if (s != LPOT_OK)
        lpot_raise_status(st, s);
    else {
        /* tens of thousands of fresh containers would trigger collections
         * that can find nothing: they are all reachable from the result */
#if PY_VERSION_HEX >= 0x030A0000
        int gc_was_on = PyGC_Disable();
#endif
        result = node_to_py(lpot_config_output(cfg));
#if PY_VERSION_HEX >= 0x030A0000
        if (gc_was_on)
            PyGC_Enable();
#endif
    }
cleanup:
    lpot_config_destroy(cfg);
    Py_XDECREF(fsbytes);
    Py_XDECREF(re);
    Py_XDECREF(rc.compile);
    Py_XDECREF(rc.error);
    assert((PyErr_Occurred() == NULL) ^ (result == NULL));
    return result;
}

PyDoc_STRVAR(is_op_name_doc,
"_config_is_op_name(key) -> bool\n\n"
"True when an op_wise key is an exact op name (matches\n"
"^[A-Za-z0-9.][A-Za-z0-9_.\\-/]*$); otherwise it is a regular expression.");

static PyObject *is_op_name(PyObject *module, PyObject *arg)
{
    (void)module;
    const char *s = PyUnicode_AsUTF8(arg);
    if (s == NULL)
        return NULL;
    return PyBool_FromLong(lpot_config_is_op_name(s));
}

/* ---- the schema as data ------------------------------------------------------------ */

static const char *const ftype_names[] = {
    [LPOT_F_MAP] = "map",     [LPOT_F_STR] = "str",       [LPOT_F_BOOL] = "bool",
    [LPOT_F_INT] = "int",     [LPOT_F_NUM] = "number",    [LPOT_F_ENUM] = "enum",
    [LPOT_F_STRS] = "str_list", [LPOT_F_ENUMS] = "enum_list", [LPOT_F_INTS] = "int_list",
    [LPOT_F_ANY] = "any",     [LPOT_F_NAMED] = "named",   [LPOT_F_DICT] = "dict",
    [LPOT_F_SEQ] = "list_of",
};

static PyObject *field_to_py(const lpot_config_field_t *f)
{
    PyObject *d = NULL, *choices = NULL, *children = NULL, *range = NULL;
    choices = PyList_New(0);
    children = PyList_New(0);
    if (choices == NULL || children == NULL)
        goto cleanup;
    for (const char *const *c = f->choices; c && *c; c++) {
        PyObject *s = PyUnicode_FromString(*c);
        if (s == NULL || PyList_Append(choices, s) < 0) {
            Py_XDECREF(s);
            goto cleanup;
        }
        Py_DECREF(s);
    }
    for (const lpot_config_field_t *c = f->children; c && c->name; c++) {
        PyObject *cd = field_to_py(c);
        if (cd == NULL || PyList_Append(children, cd) < 0) {
            Py_XDECREF(cd);
            goto cleanup;
        }
        Py_DECREF(cd);
    }
    unsigned fl = f->flags;
    range = Py_BuildValue("(OOOO)",
                          fl & LPOT_F_HAS_LO ? PyFloat_FromDouble(f->lo) : Py_NewRef(Py_None),
                          PyBool_FromLong(!!(fl & LPOT_F_LO_OPEN)),
                          fl & LPOT_F_HAS_HI ? PyFloat_FromDouble(f->hi) : Py_NewRef(Py_None),
                          PyBool_FromLong(!!(fl & LPOT_F_HI_OPEN)));
    if (range == NULL)
        goto cleanup;
    /* Py_BuildValue's "O" took new references above: drop ours */
    for (Py_ssize_t i = 0; i < 4; i++)
        Py_DECREF(PyTuple_GET_ITEM(range, i));
    d = Py_BuildValue("{s:s,s:s,s:z,s:O,s:O,s:O,s:z,s:O,s:O,s:O,s:O,s:O,s:O,s:O}", "name", f->name,
                      "type", ftype_names[f->type], "default", f->def, "range", range,
                      "choices", choices, "children", children, "tag", f->tag, "required",
                      fl & LPOT_F_REQUIRED ? Py_True : Py_False, "section",
                      fl & LPOT_F_SECTION ? Py_True : Py_False, "empty",
                      fl & LPOT_F_EMPTY ? Py_True : Py_False, "one",
                      fl & LPOT_F_ONE ? Py_True : Py_False, "op_keys",
                      fl & LPOT_F_OPKEYS ? Py_True : Py_False, "workspace",
                      fl & LPOT_F_WORKSPACE ? Py_True : Py_False, "extensible",
                      fl & LPOT_F_EXTENSIBLE ? Py_True : Py_False);
cleanup:
    Py_XDECREF(choices);
    Py_XDECREF(children);
    Py_XDECREF(range);
    return d;
}

PyDoc_STRVAR(schema_doc,
"_config_schema() -> dict\n\n"
"The configuration schema table as data: name, type, default (YAML text or\n"
"None), range (lo, lo_open, hi, hi_open), choices, children, tag, flags.");

static PyObject *config_schema(PyObject *module, PyObject *Py_UNUSED(ignored))
{
    (void)module;
    return field_to_py(lpot_config_schema());
}

static PyMethodDef config_methods[] = {
    {"_config_schema", config_schema, METH_NOARGS, schema_doc},
    {"load_config", (PyCFunction)(void (*)(void))load_config, METH_VARARGS | METH_KEYWORDS,
     load_config_doc},
    {"_config_is_op_name", is_op_name, METH_O, is_op_name_doc},
    {NULL, NULL, 0, NULL},
};

int lpot_config_exec(PyObject *module)
{
    lpot_state *st = lpot_state_from_module(module);
    PyObject *empty = PyTuple_New(0);
    if (empty == NULL)
        return -1;
    /* every ConfigError has .errors, () when raised without a list */
    int rc = PyObject_SetAttrString(st->ConfigError, "errors", empty);
    Py_DECREF(empty);
    if (rc < 0)
        return -1;
    return PyModule_AddFunctions(module, config_methods);
}
