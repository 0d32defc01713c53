#!/bin/sh
# Первая инициализация primary (docker-compose.ha.yml): standby входит пользователем POSTGRES_USER по паролю.
# Выполняется образом postgres один раз, при пустом томе; потом pg_hba.conf живёт в томе.
set -eu
echo "host replication ${POSTGRES_USER} all scram-sha-256" >> "$PGDATA/pg_hba.conf"
