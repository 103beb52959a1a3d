/**
 * The simulated Wi-Fi station (AT+SRW* commands, docs/reference/bx310x-at.md §8). The join always succeeds for a
 * configured SSID; the virtual module boots joined (profile `wifi.joinedAtBoot`, [guess]).
 */
export interface WifiState {
  /** 0 disabled, 1 station, 2 AP, 3 station+AP. Default 1. */
  mode: number;
  /** 0 China (default), 1 Japan, 2 US, 3 EU. */
  country: number;
  ssid: string;
  password: string;
  autoconnect: number;
  joined: boolean;
}

export const SIM_AP = Object.freeze({
  ssid: 'bx-hil-sim',
  bssid: '02:00:00:00:00:01',
  channel: 6,
  /** ESP-IDF wifi_auth_mode_t 3 = WPA2-PSK [BX-L enum] */
  authmode: 3,
  ip: '192.168.4.2',
  netmask: '255.255.255.0',
  gateway: '192.168.4.1',
});

export function bootWifi(joinedAtBoot: boolean): WifiState {
  return {
    mode: 1,
    country: 0,
    ssid: joinedAtBoot ? SIM_AP.ssid : '',
    password: joinedAtBoot ? 'bx-hil-sim' : '',
    autoconnect: joinedAtBoot ? 1 : 0,
    joined: joinedAtBoot,
  };
}
