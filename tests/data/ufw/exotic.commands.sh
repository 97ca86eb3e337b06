# How tests/data/ufw/exotic.* were recorded: ufw 0.36.2 (Debian 12) in a portspec lab appliance,
# this script run as root, then `ufw status`, `ufw status verbose`, `ufw status numbered`
# and /etc/ufw/user.rules, user6.rules saved. Not run by the tests.
set -e
ufw --force reset >/dev/null
ufw default deny incoming >/dev/null
ufw default allow outgoing >/dev/null
ufw allow in on eth0 from 198.18.1.1 to any port 22 proto tcp comment 'portspec-lab management access'
ufw allow log 8081/tcp
ufw deny log-all from 198.18.99.0/24
ufw allow proto udp from 198.18.7.0/24
ufw allow proto tcp to 198.18.1.2 port 8082
ufw allow to 198.18.1.2
ufw allow from 198.18.5.5 port 5000 to any port 6000 proto udp
ufw reject out 6668/tcp
ufw limit out 2223/tcp
ufw allow OpenSSH
ufw allow from 198.18.3.3 to any app OpenSSH
ufw route allow in on eth0 out on eth1 to 198.19.128.1 port 80 proto tcp
ufw route deny out on eth1 to any port 25 proto tcp
ufw route reject in on eth0 from 198.18.9.0/24
ufw allow in on eth+ to any port 8084 proto tcp
ufw allow from 2001:db8::/32 to any port 8085 proto tcp
ufw allow out to 2001:db8::1 port 443 proto tcp
ufw allow 9000:9010/tcp
ufw allow 9020,9022,9030:9040/udp
ufw insert 2 deny 9005/tcp
ufw allow 53 comment 'café # über'
ufw deny out on eth1 to 198.19.128.2 port 5671 proto tcp
ufw allow in on eth0 log from 198.18.1.0/24 to any port 7000 proto tcp
ufw allow proto tcp from 198.18.8.8 to 198.18.1.2
ufw allow proto tcp from any to any
ufw allow out on eth1 log-all to any port 8086 proto udp comment 'x'
ufw --force enable
