#!/usr/bin/python3
# cpu_time_before_after.py BEFORE_DIR AFTER_DIR [ROUNDS] — process CPU time (getrusage of the children) of the
# same runs on two builds, alternated round by round so load drifts hit both: ResNet-50 fp32 and bf16 steps
# (bench_chunk) and a one-process quickstart of 150 steps (data from `aprep fashion-mnist /tmp/optim_fm`).
# Each DIR holds aptrain and tests/bench_chunk. Prints every run and the median ratio after / before
# (RESULTS.md "Tensor views" and "One step, one optimizer pass" were measured this way).
import subprocess, resource, os, sys, time, statistics
REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
BEFORE, AFTER = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
ROUNDS = int(sys.argv[3]) if len(sys.argv) > 3 else 3
env=dict(os.environ, OMP_NUM_THREADS='1', OPENBLAS_NUM_THREADS='1')
def cpu_of(cmd):
    r0=resource.getrusage(resource.RUSAGE_CHILDREN); t0=time.time()
    p=subprocess.run(cmd, shell=True, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    r1=resource.getrusage(resource.RUSAGE_CHILDREN)
    if p.returncode: print("FAIL", cmd, p.stdout[-800:], flush=True)
    return (r1.ru_utime+r1.ru_stime)-(r0.ru_utime+r0.ru_stime), time.time()-t0
runs={
 'r50_fp32': '{b}/tests/bench_chunk --arch resnet50 --size 224 --B 4 --m 2 --chunk 0 --steps 6 --precision fp32',
 'r50_bf16': '{b}/tests/bench_chunk --arch resnet50 --size 224 --B 4 --m 2 --chunk 0 --steps 6 --precision bf16',
 'quickstart_1rank': 'cd '+REPO+' && {b}/aptrain configs/quickstart.yaml data.root=/tmp/optim_fm out_dir=/tmp/timing_runs run_name=t1_{tag} schedule.max_steps=150 logging.every_steps=50 resume=never eval.every_epochs=0 > /dev/null',
}
res={}
for rnd in range(ROUNDS):
    for tag,b in (('before',BEFORE),('after',AFTER)):
        for k,c in runs.items():
            cpu,wall=cpu_of(c.format(b=b,tag=tag))
            res.setdefault((k,tag),[]).append(cpu)
            print(rnd,k,tag,'cpu %.2f wall %.1f load %.1f'%(cpu,wall,os.getloadavg()[0]),flush=True)
for k in runs:
    bfr=res[(k,'before')]; aft=res[(k,'after')]
    print(k,'before',['%.2f'%x for x in bfr],'after',['%.2f'%x for x in aft],'median ratio %.3f'%(statistics.median(aft)/statistics.median(bfr)))
