# Helpers for this example's README, for bash (they use /dev/tcp), to source
# (`. examples/store-quality-webhook/services.sh`): ports nothing else uses, and waits that
# end, saying what they waited for. Fixed ports would collide: Debian's
# prometheus-alertmanager package starts a service on 9093.

# free_port [PORT…]: a port on 127.0.0.1 that nothing answers on (and not one of those given),
# below the range the kernel hands out to outgoing connections
# (/proc/sys/net/ipv4/ip_local_port_range). A port in that range may be held by a client's
# connection, open or in TIME_WAIT for a minute after it closed: nothing answers on it, yet a
# server cannot bind it.
free_port() {
    local low=32768 high=60999 from=10000 to port
    read -r low high 2>/dev/null < /proc/sys/net/ipv4/ip_local_port_range || true
    if [ "$low" -gt $((from + 1000)) ]; then to=$((low - 1))
    elif [ "$high" -lt 64535 ]; then from=$((high + 1)) to=65535
    else to=49999                       # the whole range is ephemeral: no port is safe from it
    fi
    while :; do
        port=$((from + (RANDOM * 32768 + RANDOM) % (to - from + 1)))
        case " $* " in *" $port "*) continue ;; esac
        port_free "$port" 2>/dev/null && { echo "$port"; return 0; }
    done
}

# port_free PORT: fails, saying so, when something already answers on 127.0.0.1:PORT.
port_free() {
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then
        echo "port $1 on 127.0.0.1 is taken by another program: choose another one" >&2
        return 1
    fi
}

# wait_ready PID NAME PORT [PATH]: waits up to 30 s for NAME, started in the background as
# PID, to accept connections on 127.0.0.1:PORT (with PATH: to answer it with a 2xx); fails,
# saying why, when it exits first or does not answer in time.
wait_ready() {
    local pid=$1 name=$2 port=$3 path=${4:-} try
    for try in $(seq 60); do
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "$name exited before it answered on 127.0.0.1:$port (see its messages above)" >&2
            return 1
        fi
        if [ -n "$path" ]; then
            curl -sf -o /dev/null "http://127.0.0.1:$port$path" && return 0
        else
            (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
        fi
        sleep 0.5
    done
    echo "$name did not answer on 127.0.0.1:$port${path:+ at $path} within 30 s" >&2
    return 1
}
