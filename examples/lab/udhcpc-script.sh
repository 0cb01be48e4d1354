#!/bin/sh
# busybox udhcpc event script for the lab (`lab dhcp-client`): prints what the server sent,
# decodes option 242 (udhcpc exports unknown options as hex in $opt242), and configures the
# address (and a default route via the router option) on "bound"/"renew".
case "$1" in
  deconfig)
    ip addr flush dev "$interface" scope global 2>/dev/null
    ;;
  bound|renew)
    echo "udhcpc: $1 interface=$interface ip=$ip mask=$mask router=$router serverid=$serverid lease=$lease"
    if [ -n "$opt242" ]; then
      printf 'opt242(hex)=%s\n' "$opt242"
      printf 'opt242(text)=%s\n' "$(printf '%s' "$opt242" | sed 's/../\\x&/g' | xargs -0 printf '%b')"
    else
      echo "opt242 NOT received"
    fi
    ip addr flush dev "$interface" scope global
    ip addr add "$ip/${mask:-24}" dev "$interface"
    [ -n "$router" ] && ip route replace default via "${router%% *}" dev "$interface"
    ;;
esac
exit 0
