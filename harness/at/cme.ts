/**
 * `+CME ERROR: <n>` meanings (docs/reference/bx310x-at.md §2).
 *
 * 902-932 come from [HL-G] (Sierra Wireless HL78xx guide 41111821 rev. 11 §14.3.1); [BX-T]
 * shows the BX using the same numbers for the same conditions where it was tested (910, 915,
 * 916, 917, 918, 922). 0, 3 and 4 are the standard 3GPP meanings. Libelium's
 * `wifi_error_codes.h` also uses 902-933 but with another module's meanings: NOT used here.
 */
export const CME_MEANINGS: Readonly<Record<number, string>> = Object.freeze({
  0: 'phone failure',
  3: 'operation not allowed',
  4: 'operation not supported',
  902: 'no more sockets available; the maximum number has been reached',
  903: 'memory problem',
  904: 'DNS error',
  905: 'TCP disconnection by the server',
  906: 'TCP/UDP connection error',
  907: 'generic error',
  908: "failed to accept the client's request",
  909: 'data sent by KTCPSND/KUDPSND are incoherent',
  910: 'bad session ID',
  911: 'session is already running',
  912: 'no more sessions can be used (maximum session is 6)',
  913: 'socket connection timer timeout',
  914: 'control socket connection timer timeout',
  915: 'a parameter is not expected (too many parameters)',
  916: 'a parameter has an invalid range of values',
  917: 'a parameter is missing',
  918: 'feature is not supported',
  919: 'feature is not available',
  920: 'protocol is not supported',
  921: 'error due to invalid state of bearer connection',
  922: 'error due to invalid state of session',
  923: 'error due to invalid state of terminal port data mode',
  924: 'error due to session busy, retry later',
  925: "failed to decode HTTP header's name, missing ':'",
  926: "failed to decode HTTP header's value, missing 'cr/lf'",
  927: "HTTP header's name is an empty string",
  928: "HTTP header's value is an empty string",
  929: 'format of input data is invalid',
  930: 'content of input data is invalid or not supported',
  931: 'the length of a parameter is invalid',
  932: 'the format of a parameter is invalid',
});

/** The meaning of a CME code, or `unknown CME error <n>` when the table has no entry. */
export function cmeMeaning(code: number): string {
  return CME_MEANINGS[code] ?? `unknown CME error ${code}`;
}
