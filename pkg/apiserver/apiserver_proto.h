/* apiserver_proto: decodes Kubernetes protobuf request bodies (application/vnd.kubernetes.protobuf)
 * into the JSON object the same Go value would marshal to, following the libk8sproto tables. */
#ifndef KUBELING_APISERVER_PROTO_H
#define KUBELING_APISERVER_PROTO_H

#include <cjson/cJSON.h>
#include <stddef.h>

#define APISERVER_PROTO_CONTENT_TYPE "application/vnd.kubernetes.protobuf"
#define APISERVER_PROTO_MAX_BODY     (3u << 20)
#define APISERVER_PROTO_MAX_DEPTH    64

/* Decodes DATA (the "k8s\0" magic, then a runtime.Unknown holding the typed object) into a new
 * JSON object carrying apiVersion and kind from the Unknown's typeMeta. Returns NULL and writes
 * a message to ERR on malformed input, an unknown type or a body over the limits. */
cJSON *apiserver_proto_decode(const void *data, size_t len, char *err, size_t errlen);

#endif
