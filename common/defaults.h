/*
 * common/defaults.h - defaults shared by more than one part (the probe
 * engine, its simulator, the tool's help texts and the tests), defined once.
 */
#ifndef NATIDLE_COMMON_DEFAULTS_H
#define NATIDLE_COMMON_DEFAULTS_H

/* The shortest silence the probe tests by default, seconds: below this the
 * NAT's timer granularity and the push's own delay dominate. */
#define NI_PROBE_DEFAULT_MIN_S 2
/* The longest silence the probe tests by default, seconds: OpenWrt's
 * conntrack default (7440 s, 2 h 04 min, also RFC 5382's floor). */
#define NI_PROBE_DEFAULT_MAX_S 7440
/* Silent probe sessions by default (plus one control connection): enough to
 * bracket in a few rounds, few enough for Dovecot's default of 10
 * connections per user and address. */
#define NI_PROBE_DEFAULT_SESSIONS 8

/* Helpers to put a numeric default into a help string. */
#define NI_STR_(x) #x
#define NI_STR(x) NI_STR_(x)

#endif
