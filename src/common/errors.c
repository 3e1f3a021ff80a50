/*
 * The error table of include/petrel/errors.h as data and lookups: code ->
 * row index (a switch, which also makes a code listed twice a compile
 * error: duplicate case value), text and HTTP status.  Pure, no state.
 */
#include "petrel/errors.h"

#define PETREL_ERR_ROW_(name, code, http, origin, text) \
    [PETREL_ERRI_##name] = {#name, code, http, PETREL_ERR_ORIGIN_##origin, text},
const petrel_error_row_t petrel_error_table[PETREL_ERR_COUNT] = {PETREL_ERRORS(PETREL_ERR_ROW_)};
#undef PETREL_ERR_ROW_

int petrel_err_index(int code)
{
    switch (code) {
#define PETREL_ERR_CASE_(name, code, http, origin, text) \
    case code: return PETREL_ERRI_##name;
        PETREL_ERRORS(PETREL_ERR_CASE_)
#undef PETREL_ERR_CASE_
    default: return -1;
    }
}

const char *petrel_err_text(int code)
{
    if (code == PETREL_OK)
        return "success";
    int i = petrel_err_index(code);
    return i < 0 ? "error" : petrel_error_table[i].text;
}

int petrel_err_http(int code)
{
    if (code == PETREL_OK)
        return 200;
    int i = petrel_err_index(code);
    return i < 0 ? 500 : petrel_error_table[i].http;
}
