/* Error table, version and exit-code mapping shared by all of libnatidle. */
#include "natidle/common.h"

#include <errno.h>
#include <string.h>

#ifndef NATIDLE_VERSION
#define NATIDLE_VERSION "0.0.0"
#endif

const char *ni_version(void) {
  return NATIDLE_VERSION;
}

const char *ni_strerror(int err) {
  switch (err) {
#define NI_ERR_MSG(name, val, msg)                                                                 \
  case NI_E##name:                                                                                 \
    return msg;
    NI_ERRNO_MAP(NI_ERR_MSG)
#undef NI_ERR_MSG
  default:
    break;
  }
  if (err == 0) return "success";
  if (err < 0 && err > -4000)
    return strerror(-err); /* static text for known errno values in glibc */
  return "unknown error";
}

const char *ni_err_name(int err) {
  switch (err) {
#define NI_ERR_NAME(name, val, msg)                                                                \
  case NI_E##name:                                                                                 \
    return "NI_E" #name;
    NI_ERRNO_MAP(NI_ERR_NAME)
#undef NI_ERR_NAME
  case -ECONNRESET:
    return "ECONNRESET";
  case -ECONNREFUSED:
    return "ECONNREFUSED";
  case -ETIMEDOUT:
    return "ETIMEDOUT";
  case -ENOMEM:
    return "ENOMEM";
  case -EINVAL:
    return "EINVAL";
  case -ENOENT:
    return "ENOENT";
  case -EACCES:
    return "EACCES";
  case -EHOSTUNREACH:
    return "EHOSTUNREACH";
  case -ENETUNREACH:
    return "ENETUNREACH";
  case -EPIPE:
    return "EPIPE";
  case 0:
    return "OK";
  default:
    return "EUNKNOWN";
  }
}

int ni_exit_code_for(int err) {
  switch (err) {
  case 0:
    return NI_EXIT_OK;
  case NI_EUSAGE:
  case NI_ECSV:
  case -EINVAL:
  case -ENOENT:
  case -EACCES:
    return NI_EXIT_USAGE;
  case NI_EAUTH:
  case NI_EPLAINTEXT:
    return NI_EXIT_AUTH;
  case NI_ETLS:
  case NI_ECERT:
    return NI_EXIT_TLS;
  case NI_EDNS:
  case NI_ETIMEDOUT:
  case NI_ECLOSED:
  case NI_ERESET:
  case NI_EBYE:
  case -ECONNRESET:
  case -ECONNREFUSED:
  case -ETIMEDOUT:
  case -EHOSTUNREACH:
  case -ENETUNREACH:
    return NI_EXIT_NETWORK;
  case NI_ENOCAP:
    return NI_EXIT_CAPABILITY;
  case NI_EMISMATCH:
  case NI_ENOTOURS:
    return NI_EXIT_SAFETY;
  case NI_ECANCELED:
    return NI_EXIT_INTERRUPTED;
  default:
    return NI_EXIT_FAILURE;
  }
}
