/* fuzz_client: libFuzzer target for what the API client parses from untrusted sources: the
 * input is a kubeconfig (YAML subset or JSON; file references refused: no base directory), a
 * watch stream cut into lines (every line decoded as a watch event) and an error body decoded
 * as a Status. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "client/client.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void on_line(void *ud, const char *line, size_t len)
{
    size_t *n = ud;
    cJSON *ev = cJSON_ParseWithLength(line, len);
    (*n)++;
    cJSON_Delete(ev);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > CLIENT_KUBECONFIG_MAX)
        return 0;
    const char *text = (const char *)data;
    client_config_t c = {0};
    util_error_t err = NULL;
    if (client_config_parse(text, size, NULL, &c, &err) == 0)
        client_config_free(&c);
    util_error_free(&err);
    util_buf_t pending = {0};
    size_t n = 0, half = size / 2;
    if (client_split_lines(&pending, text, half, 4096, on_line, &n) == 0)
        client_split_lines(&pending, text + half, size - half, 4096, on_line, &n);
    util_buf_free(&pending);
    client_status_t st;
    client_status_decode(text, size, 500, &st);
    client_status_free(&st);
    char host[256];
    int port;
    char *url = strndup(text, size < 300 ? size : 300);
    if (client_parse_url(url, host, sizeof(host), &port, &err) < 0)
        util_error_free(&err);
    free(url);
    return 0;
}
