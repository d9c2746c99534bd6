# EaseinvTest: helpers shared by the easeinv TAP tests (test/t/*.pl).
#
#   my $node = EaseinvTest::Node->new('main');      # a PostgreSQL::Test::Cluster
#   my $pgb  = EaseinvTest::start_pgbouncer(node => $node, databases => {...});
#   my $s    = $node->session_at($pgb->connstr('app', 'web'));   # background psql through it
#   my ($out, $err) = EaseinvTest::run_sql($s, 'SELECT 1');
#   my ($rc, $out, $err) = $node->run_client([ 'pg_restore', '-d', 'db', $file ]);
#
# Every pgbouncer started here runs as the user running the tests, in the foreground under
# IPC::Run, and is killed by the END block below even when the test dies half way.

package EaseinvTest;

use strict;
use warnings;

use File::Basename ();
use IPC::Run;
use PostgreSQL::Test::BackgroundPsql;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

our @bouncers;

# start_pgbouncer(node => $node, databases => { alias => 'pool_size=1', ... }, %settings)
# Writes pgbouncer.ini and an auth file into a fresh temporary directory, starts
# /usr/sbin/pgbouncer on a free TCP port of 127.0.0.1 (no Unix socket) in transaction pooling
# mode, pointing every alias at database postgres of $node, and waits until it accepts
# connections.  Extra key/value pairs go into the [pgbouncer] section.
sub start_pgbouncer
{
	my (%params) = @_;
	my $node = delete $params{node} or die "start_pgbouncer: node is required";
	my $databases = delete $params{databases} || { app => '' };
	my $users = delete $params{users} || [ 'postgres', 'web' ];
	my $binary = delete $params{binary} || '/usr/sbin/pgbouncer';

	my $dir = PostgreSQL::Test::Utils::tempdir('pgbouncer');
	my $port = PostgreSQL::Test::Cluster::get_free_port();
	my $name = "pgbouncer_$port";
	my $test = File::Basename::basename($0);
	$test =~ s/\.[^.]+$//;
	my $log = "$PostgreSQL::Test::Utils::log_path/${test}_$name.log";

	my %settings = (
		listen_addr => '127.0.0.1',
		listen_port => $port,
		unix_socket_dir => '',
		auth_type => 'trust',
		auth_file => "$dir/userlist.txt",
		pool_mode => 'transaction',
		default_pool_size => 3,
		max_client_conn => 100,
		# fail fast instead of hanging the test when something goes wrong
		server_login_retry => 1,
		query_wait_timeout => 30,
		ignore_startup_parameters => 'extra_float_digits',
		%params);

	open my $ul, '>', "$dir/userlist.txt" or die "cannot write $dir/userlist.txt: $!";
	print $ul qq{"$_" ""\n} for @$users;
	close $ul;

	my $ini = "$dir/pgbouncer.ini";
	open my $fh, '>', $ini or die "cannot write $ini: $!";
	print $fh "[databases]\n";
	foreach my $alias (sort keys %$databases)
	{
		printf $fh "%s = host=%s port=%d dbname=postgres %s\n",
		  $alias, $node->host, $node->port, $databases->{$alias};
	}
	print $fh "\n[pgbouncer]\n";
	print $fh "$_ = $settings{$_}\n" for sort keys %settings;
	close $fh;
	note "pgbouncer configuration $ini:\n" . PostgreSQL::Test::Utils::slurp_file($ini);

	my $h = IPC::Run::start([ $binary, $ini ],
		'<', \undef, '>>', $log, '2>>', $log);
	my $self = bless {
		port => $port,
		dir => $dir,
		ini => $ini,
		log => $log,
		handle => $h,
		databases => $databases,
	}, 'EaseinvTest::PgBouncer';
	push @bouncers, $self;

	# Wait until it accepts connections: a SELECT 1 through the first alias.
	my ($alias) = sort keys %$databases;
	my $deadline = time + 20;
	while (1)
	{
		die "pgbouncer exited at start-up, see $log:\n"
		  . PostgreSQL::Test::Utils::slurp_file($log)
		  unless $h->pumpable;
		my ($ret, $out, $err) = $node->psql(
			'postgres', 'SELECT 1',
			connstr => $self->connstr($alias, $users->[0]),
			timeout => 5);
		last if defined $ret && $ret == 0 && $out eq '1';
		die "pgbouncer did not accept connections within 20 s: $err\n" if time > $deadline;
		usleep(100_000);
	}
	note "pgbouncer listening on 127.0.0.1:$port (log $log)";
	return $self;
}

# run_sql($session, $sql): run SQL in a BackgroundPsql session and return (stdout, stderr)
# of that SQL alone (BackgroundPsql keeps stderr across queries otherwise).
sub run_sql
{
	my ($session, $sql) = @_;
	$session->{stderr} = '';
	my $out = $session->query($sql);
	my $err = $session->{stderr};
	$session->{stderr} = '';
	chomp $err;
	return ($out, $err);
}

# kill_cluster($node): SIGSTOP the postmaster so that it neither forks a backend nor notices a
# death while its children are listed, SIGKILL every child, then the postmaster ($node->kill9):
# no process gets to finish a statement, send an error or clean up.  Waits until they are reaped
# (a new postmaster refuses to start while the old pid exists); returns how many children died.
sub kill_cluster
{
	my ($node) = @_;
	my $pm = $node->{_pid};
	kill 'STOP', $pm;
	my @children;
	opendir my $proc, '/proc' or die "cannot read /proc: $!";
	foreach my $p (grep { /^\d+$/ } readdir $proc)
	{
		open my $fh, '<', "/proc/$p/stat" or next;
		my $stat = <$fh>;
		close $fh;
		push @children, $p if defined $stat && $stat =~ /\)\s+\S+\s+(\d+)/ && $1 == $pm;
	}
	closedir $proc;
	kill 'KILL', @children;
	$node->kill9;
	my $deadline = time + 30;
	usleep(25_000) while grep({ kill 0, $_ } $pm, @children) && time < $deadline;
	die "killed postmaster $pm or its children still exist after 30 s"
	  if grep { kill 0, $_ } $pm, @children;
	note "killed postmaster $pm and its " . scalar(@children) . " children";
	return scalar(@children);
}

END
{
	# An END block must not change the exit status of the test.
	local $?;
	$_->stop foreach @bouncers;
}

package EaseinvTest::PgBouncer;

use strict;
use warnings;

sub port { return $_[0]->{port}; }
sub logfile { return $_[0]->{log}; }

# connstr($alias, $user): a libpq connection string through this pgbouncer.
sub connstr
{
	my ($self, $alias, $user) = @_;
	return "host=127.0.0.1 port=$self->{port} dbname=$alias user=$user";
}

# stop: SIGTERM (immediate shutdown in pgbouncer 1.18), SIGKILL after 5 s.  Idempotent.
sub stop
{
	my ($self) = @_;
	my $h = $self->{handle} or return;
	delete $self->{handle};
	local $?;
	eval { $h->kill_kill(grace => 5) if $h->pumpable; 1 }
	  or warn "stopping pgbouncer on port $self->{port}: $@";
	return;
}

package EaseinvTest::Node;

# A PostgreSQL::Test::Cluster that can also open background psql sessions on any connection
# string (BackgroundPsql only lets a Cluster create sessions, and Cluster's background_psql
# only connects to the node itself).

use strict;
use warnings;

use parent -norequire, 'PostgreSQL::Test::Cluster';

# session_at($connstr, timeout => 60): a BackgroundPsql session, errors do not stop it
# (no ON_ERROR_STOP) and are reported with their SQLSTATE (VERBOSITY=verbose).
sub session_at
{
	my ($self, $connstr, %params) = @_;
	local %ENV = $self->_get_env();
	my @cmd = (
		$self->installed_command('psql'),
		'-XAtq', '-d', $connstr, '-f', '-',
		'-v', 'VERBOSITY=verbose');
	return PostgreSQL::Test::BackgroundPsql->new(0, \@cmd,
		$params{timeout} // 60, 1);
}

# run_client([program, args...], env => { PGOPTIONS => '-c ...' }): run a client program of the
# node's installation (pg_dump, pg_restore, createdb, ...) with PGHOST and PGPORT pointing at the
# node and the extra environment given; returns (exit code, stdout, stderr).  Never dies on a
# non-zero exit: the caller asserts.
sub run_client
{
	my ($self, $cmd, %params) = @_;
	local %ENV = $self->_get_env(%{ $params{env} || {} });
	my ($out, $err) = ('', '');
	my @cmd = ($self->installed_command($cmd->[0]), @$cmd[ 1 .. $#$cmd ]);
	IPC::Run::run(\@cmd, '<', \undef, '>', \$out, '2>', \$err);
	return ($? >> 8, $out, $err);
}

1;
