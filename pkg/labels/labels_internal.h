/* labels_internal: helpers shared by the labels files (not part of the public interface). */
#ifndef KUBELING_LABELS_INTERNAL_H
#define KUBELING_LABELS_INTERNAL_H

#include "labels.h"

/* Appends s as Go's %q prints it (double quotes, escapes for '"', '\\' and non-printable
 * bytes), as upstream's field.Invalid messages show bad values. */
void labels__quote(util_buf_t *b, const char *s);

#endif
