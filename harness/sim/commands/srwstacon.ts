/**
 * `AT+SRWSTACON=1` → OK, then `+SRWSTASTATUS: 1,"<ssid>","<bssid>",<channel>,<authmode>` and
 * `+SRWSTAIP: "<ip>","<netmask>","<gateway>"`; `AT+SRWSTACON=0` → OK, then
 * `+SRWSTASTATUS: 0,8` (8 = station leaving) [BX-T, BX-L]. docs/reference/bx310x-at.md §8.
 * The join is simulated and always succeeds for a configured SSID; with no SSID configured the
 * status is `0,201` (no AP found) [guess]. Live MQTT sessions drop with `+KMQTT_IND: <id>,0`
 * and their sockets are cut without DISCONNECT, so the broker sends the will [BX-T KMQTTCFG_0002].
 */
import { intParam } from '../atline.ts';
import { isReply, prelude } from './args.ts';
import { cme, ok, type CommandHandler, type Reply, type SimContext } from './types.ts';
import { SIM_AP } from '../wifi.ts';

/**
 * Join the simulated AP and raise the URCs (also used at boot and by autoconnect), after the
 * timing's `wifi.joinMs` (association, WPA2 handshake, DHCP; a reboot cancels it).
 */
export function joinWifi(ctx: SimContext): void {
  const wifi = ctx.wifi;
  ctx.later(ctx.timing.wifi.joinMs, () => {
    if (!wifi.ssid) {
      ctx.urc('+SRWSTASTATUS: 0,201');
      return;
    }
    wifi.joined = true;
    ctx.urc(`+SRWSTASTATUS: 1,"${wifi.ssid}","${SIM_AP.bssid}",${SIM_AP.channel},${SIM_AP.authmode}`);
    ctx.urc(`+SRWSTAIP: "${SIM_AP.ip}","${SIM_AP.netmask}","${SIM_AP.gateway}"`);
  });
}

/** Leave (or lose) the AP: status URC with the reason, then every live session drops. */
export function dropWifi(ctx: SimContext, reason: number): void {
  ctx.wifi.joined = false;
  ctx.urc(`+SRWSTASTATUS: 0,${reason}`);
  ctx.sessions.abortAll(true, false);
}

export const srwstacon: CommandHandler = {
  set(ctx, args): Reply {
    const pre = prelude(ctx, args, { min: 1, max: 1 });
    if (isReply(pre)) return pre;
    const on = intParam(pre.params[0], 0, 1);
    if (on === undefined) return cme(916);
    return ok(undefined, () => (on === 1 ? joinWifi(ctx) : dropWifi(ctx, 8)));
  },
  // [guess] no source shows a read form; this answers the join state
  read: (ctx) => ok([`+SRWSTACON: ${ctx.wifi.joined ? 1 : 0}`]),
};
