# Helpers for this example's README, for bash (they use /dev/tcp), to source
# (`. examples/store-quality-webhook/services.sh`): ports nothing else uses, and waits that
# end, saying what they waited for. Fixed ports would collide: Debian's
# prometheus-alertmanager package starts a service on 9093.

# free_port [PORT…]: a port on 127.0.0.1 that nothing answers on (and not one of those given).
free_port() {
    local port
    while :; do
        port=$((20000 + RANDOM % 30000))
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
