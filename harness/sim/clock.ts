/**
 * The module's own clock. The firmware checks the server certificate's dates against this
 * clock, not the host's: with `1970` (a clock never set since boot) a valid certificate is "not
 * yet valid" and `AT+KMQTTCNX` ends in `+KMQTT_IND: <id>,0` (docs/reference/bx310x-at.md §8, open question 11).
 */
export type ClockSetting = 'host' | '1970' | Date;

export class ModuleClock {
  readonly #setting: ClockSetting;
  readonly #monotonic: () => number;
  /** Wall time (ms) at the monotonic instant `#base`. */
  #wallAtBase = 0;
  #base = 0;
  #set = false;

  constructor(setting: ClockSetting, monotonic: () => number = () => performance.now()) {
    this.#setting = setting;
    this.#monotonic = monotonic;
    this.boot();
  }

  /** As at power-up: `1970` starts again from the epoch; a set time is forgotten. */
  boot(): void {
    this.#set = false;
    this.#base = this.#monotonic();
    this.#wallAtBase = this.#setting === '1970' ? 0 : this.#setting instanceof Date ? this.#setting.getTime() : 0;
  }

  /** Set the time (AT+CCLK); it then counts on from there. */
  set(time: Date): void {
    this.#set = true;
    this.#base = this.#monotonic();
    this.#wallAtBase = time.getTime();
  }

  /** Whether the time was set since boot (AT+CCLK or SNTP). */
  get isSet(): boolean {
    return this.#set;
  }

  now(): Date {
    if (this.#setting === 'host' && !this.#set) return new Date();
    return new Date(this.#wallAtBase + (this.#monotonic() - this.#base));
  }

  describe(): string {
    return this.#set
      ? 'set since boot'
      : this.#setting instanceof Date
        ? `started at ${this.#setting.toISOString()}`
        : this.#setting;
  }
}
